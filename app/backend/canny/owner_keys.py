"""Owner keys: every result belongs to the client whose key uploaded it.

A key is a random secret the client keeps (a cookie for the page, `Authorization: Bearer`
for scripts). The server stores only its SHA-256 (`Owner.digest`), never the key, and
derives result ids from that digest, so neither the disk nor a result URL gives the key away.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

from flask import Request, Response

from canny.errors import ApiError

COOKIE_NAME = "canny_owner"
# Only API calls need the key; the page, its scripts and /results/ never see it.
COOKIE_PATH = "/api/"
# Browsers cap cookie lifetimes at 400 days and advise re-setting the cookie on each visit
# to keep it (https://developer.chrome.com/blog/cookie-max-age-expires/), so each API call
# that came with the cookie renews it.
COOKIE_MAX_AGE_SECONDS = 400 * 24 * 3600
KEY_BYTES = 32  # 256 random bits, as `secrets.token_urlsafe(32)` gives
# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


class InvalidOwnerKeyError(ApiError):
    """A key was sent but is not one this service could have issued."""

    status = 401
    code = "invalid_owner_key"


@dataclass(frozen=True)
class Owner:
    # Kept out of repr, so no log line or traceback can ever show a key.
    key: str = field(repr=False)
    # True when this request made the key: the answer must hand it to the client.
    issued: bool
    # True when the key came as the cookie: the answer renews the cookie.
    from_cookie: bool

    @property
    def digest(self) -> str:
        """What the server stores and derives ids from instead of the key itself."""
        return hashlib.sha256(f"canny-owner-v1:{self.key}".encode()).hexdigest()


def new_owner() -> Owner:
    return Owner(key=secrets.token_urlsafe(KEY_BYTES), issued=True, from_cookie=False)


def is_valid_key(value: str) -> bool:
    return KEY_PATTERN.fullmatch(value) is not None


def owner_of(request: Request) -> Owner:
    """The caller's owner: from `Authorization: Bearer`, else the cookie, else a new key.

    An explicit header wins over a cookie, so a script can act as another owner from a
    browser-like client. A malformed key is refused rather than replaced, so a typo in a
    script never silently starts an empty gallery.
    """
    if "Authorization" in request.headers:
        # Werkzeug parses the header; it lower-cases the scheme, which HTTP defines as
        # case-insensitive (https://www.rfc-editor.org/rfc/rfc9110#section-11.1).
        credentials = request.authorization
        token = credentials.token if credentials is not None else None
        if credentials is None or credentials.type != "bearer" or not is_valid_key(token or ""):
            raise InvalidOwnerKeyError(
                "Authorization must be `Bearer <owner key>`, the key a 43-character token"
            )
        return Owner(key=token, issued=False, from_cookie=False)
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie is not None:
        if not is_valid_key(cookie):
            raise InvalidOwnerKeyError(f"the {COOKIE_NAME} cookie is not a valid owner key")
        return Owner(key=cookie, issued=False, from_cookie=True)
    return new_owner()


def set_cookie(response: Response, owner: Owner, secure: bool) -> None:
    """HttpOnly keeps page scripts (and so any injected script) from reading the key;
    SameSite=Lax keeps other sites from making the browser delete or upload as its owner
    (the cookie goes only with same-site requests and top-level GET navigations:
    https://developer.mozilla.org/en-US/docs/Web/HTTP/Cookies#samesite_attribute).
    Secure only over HTTPS: a Secure cookie set over plain HTTP would never be sent back."""
    response.set_cookie(
        COOKIE_NAME,
        owner.key,
        max_age=COOKIE_MAX_AGE_SECONDS,
        path=COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: Response, secure: bool) -> None:
    """Drop a malformed cookie, so the browser's next call starts with a fresh key."""
    response.delete_cookie(
        COOKIE_NAME, path=COOKIE_PATH, secure=secure, httponly=True, samesite="Lax"
    )
