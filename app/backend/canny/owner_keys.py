"""Owner keys: every result belongs to the client whose key uploaded it.

A key is `<id>.<signature>`: a random id (256 bits, `secrets.token_urlsafe(32)`) and an
HMAC-SHA256 of it under a server secret. Only the server can make a key that verifies, so
a key a client (or an attacker fixing a victim's cookie) made up is refused: the probe of
issue 28 had 43 x `A` accepted as a key. The client keeps the key (a cookie for the page,
`Authorization: Bearer` for scripts); the server stores only the SHA-256 of the id
(`Owner.digest`) and derives result ids from that, so neither the disk nor a result URL
gives the key away.

Rotation: the secrets are a list (CANNY_OWNER_KEY_SECRETS); the first signs new keys,
every one verifies. Ownership comes from the id alone, never the signature, so a key signed
by a secret still in the list sees the same gallery after the rotation.

Keys from before signing are the bare 43-character id. Their digest is the same as that
of a signed key with that id, so with CANNY_ACCEPT_UNSIGNED_OWNER_KEYS an old key is taken
once more and answered with its signed form (the cookie replaced, `owner_key` in a 201):
the gallery is kept. Off by default, because while it is on anyone may still make up a key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from flask import Request, Response

from canny.errors import ApiError
from canny.settings import MIN_OWNER_KEY_SECRET_LENGTH, Settings, SettingsError

# Over plain HTTP (`./run`): the name and path the cookie has always had.
COOKIE_NAME = "canny_owner"
COOKIE_PATH = "/api/"
# Over HTTPS: a `__Host-` cookie, which browsers accept only with Secure, Path=/ and no
# Domain, so no other host (a test stack at <stack>.test.<domain>, a sibling subdomain) and
# no plain-HTTP page can set or overwrite it (RFC 6265bis section 4.1.3.2,
# https://datatracker.ietf.org/doc/html/draft-ietf-httpbis-rfc6265bis#section-4.1.3.2;
# https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Set-Cookie#cookie_prefixes).
# Path=/ sends it with every request to this host (page, /results/), not only /api/: still
# HttpOnly, and the gateway drops it before proxying /results/ to a bucket.
SECURE_COOKIE_NAME = "__Host-canny_owner"
SECURE_COOKIE_PATH = "/"
# Browsers cap cookie lifetimes at 400 days and advise re-setting the cookie on each visit
# to keep it (https://developer.chrome.com/blog/cookie-max-age-expires/), so each API call
# that came with the cookie renews it.
COOKIE_MAX_AGE_SECONDS = 400 * 24 * 3600
ID_BYTES = 32  # 256 random bits, as `secrets.token_urlsafe(32)` gives
# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet, and so is an
# unpadded HMAC-SHA256.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}")
_SIGNED_DOMAIN = b"canny-owner-key-v2:"
# Well-formed keys whose verdict a worker keeps: a client sends the same key with every
# call, so its HMACs (one per secret) are computed once per worker instead of per request.
# Bounded, least recently used first out, so keys made up by the thousand only churn it.
VERDICTS_KEPT = 4096


class InvalidOwnerKeyError(ApiError):
    """A key was sent but is not one this service issued."""

    status = 401
    code = "invalid_owner_key"


@dataclass(frozen=True)
class Owner:
    # Kept out of repr, so no log line or traceback can ever show a key.
    key: str = field(repr=False)
    # True when the client must be handed `key`: this request made it, or signed an old one.
    issued: bool
    # True when the key came as the cookie: the answer renews the cookie.
    from_cookie: bool

    # What the server stores and derives ids from instead of the key itself (see
    # _digest_of); computed once, when the Owner is made: an upload reads it five times.
    digest: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The dataclass is frozen; object.__setattr__ is how its own __init__ sets fields
        # (https://docs.python.org/3/library/dataclasses.html#frozen-instances).
        object.__setattr__(self, "digest", _digest_of(self.key))


def _digest_of(key: str) -> str:
    """A hash of the key's id alone, so a re-signed key (rotation, an old key upgraded)
    keeps its gallery. The prefix is the one unsigned keys were hashed with."""
    owner_id = key.partition(".")[0]
    return hashlib.sha256(f"canny-owner-v1:{owner_id}".encode()).hexdigest()


class OwnerKeys:
    """Issues keys under the first secret and verifies them under any of them."""

    def __init__(self, signing_secrets: tuple[str, ...], accept_unsigned: bool = False) -> None:
        if not signing_secrets:
            raise SettingsError(
                "CANNY_OWNER_KEY_SECRETS must be set: one or more comma-separated secrets of"
                f" at least {MIN_OWNER_KEY_SECRET_LENGTH} characters (the first signs owner keys)"
            )
        self._secrets = tuple(secret.encode() for secret in signing_secrets)
        self.accept_unsigned = accept_unsigned
        # Per instance, so a new set of secrets never sees an old verdict; lru_cache is
        # thread-safe (https://docs.python.org/3/library/functools.html#functools.lru_cache).
        self._signed_by_us = functools.lru_cache(maxsize=VERDICTS_KEPT)(self._check_signature)

    @classmethod
    def from_settings(cls, settings: Settings) -> OwnerKeys:
        return cls(settings.owner_key_secret_list, settings.accept_unsigned_owner_keys)

    def _signature(self, secret: bytes, owner_id: str) -> str:
        mac = hmac.new(secret, _SIGNED_DOMAIN + owner_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign(self, owner_id: str) -> str:
        return f"{owner_id}.{self._signature(self._secrets[0], owner_id)}"

    def new_owner(self) -> Owner:
        return Owner(key=self.sign(secrets.token_urlsafe(ID_BYTES)), issued=True, from_cookie=False)

    def verifies(self, key: str) -> bool:
        """True for a key signed by any configured secret. A key's first check compares its
        signature in constant time; later ones find the verdict by the whole key's hash, so
        their timing says nothing about how much of a made-up signature was right."""
        if KEY_PATTERN.fullmatch(key) is None:
            return False
        return self._signed_by_us(key)

    def _check_signature(self, key: str) -> bool:
        owner_id, _, signature = key.partition(".")
        return any(
            hmac.compare_digest(signature, self._signature(secret, owner_id))
            for secret in self._secrets
        )

    def owner(self, key: str, from_cookie: bool) -> Owner | None:
        """The owner of a key sent by the client, or None when it is not one of ours."""
        if self.verifies(key):
            return Owner(key=key, issued=False, from_cookie=from_cookie)
        if self.accept_unsigned and ID_PATTERN.fullmatch(key) is not None:
            return Owner(key=self.sign(key), issued=True, from_cookie=from_cookie)
        return None


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE_NAME if secure else COOKIE_NAME


def owner_of(request: Request, keys: OwnerKeys) -> Owner:
    """The caller's owner: from `Authorization: Bearer`, else the cookie, else a new key.

    An explicit header wins over a cookie, so a script can act as another owner from a
    browser-like client. A key that does not verify is refused (401) rather than replaced,
    so a typo in a script never silently starts an empty gallery; the page's cookie is
    dropped in that answer, so the page's next call starts a new one.
    """
    if "Authorization" in request.headers:
        # Werkzeug parses the header; it lower-cases the scheme, which HTTP defines as
        # case-insensitive (https://www.rfc-editor.org/rfc/rfc9110#section-11.1).
        credentials = request.authorization
        token = credentials.token if credentials is not None else None
        owner = None
        if credentials is not None and credentials.type == "bearer" and token:
            owner = keys.owner(token, from_cookie=False)
        if owner is None:
            raise InvalidOwnerKeyError(
                "Authorization must be `Bearer <owner key>`, a key this service issued"
            )
        return owner
    name = cookie_name(request.is_secure)
    cookie = request.cookies.get(name)
    if cookie is None and request.is_secure and keys.accept_unsigned:
        # Before the __Host- cookie, HTTPS pages kept the key in the plain one.
        cookie = request.cookies.get(COOKIE_NAME)
    if cookie is not None:
        owner = keys.owner(cookie, from_cookie=True)
        if owner is None:
            raise InvalidOwnerKeyError(f"the {name} cookie is not an owner key this service issued")
        return owner
    return keys.new_owner()


def set_cookie(response: Response, owner: Owner, secure: bool) -> None:
    """HttpOnly keeps page scripts (and so any injected script) from reading the key;
    SameSite=Lax keeps other sites from making the browser delete or upload as its owner
    (the cookie goes only with same-site requests and top-level GET navigations:
    https://developer.mozilla.org/en-US/docs/Web/HTTP/Cookies#samesite_attribute).
    Secure (and so the __Host- name) only over HTTPS: a Secure cookie set over plain HTTP
    would never be sent back."""
    response.set_cookie(
        cookie_name(secure),
        owner.key,
        max_age=COOKIE_MAX_AGE_SECONDS,
        path=SECURE_COOKIE_PATH if secure else COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: Response, secure: bool) -> None:
    """Drop a refused cookie, so the browser's next call starts with a fresh key."""
    response.delete_cookie(
        cookie_name(secure),
        path=SECURE_COOKIE_PATH if secure else COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="Lax",
    )
