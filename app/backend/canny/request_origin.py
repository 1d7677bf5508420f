"""Unsafe API calls a browser makes must come from the page's own origin.

The owner cookie is SameSite=Lax, but "site" ignores ports and subdomains: the probe of
issue 28 had a page on another port of the same host upload into, and re-run in, the
gallery of whoever visited it (a multipart form, a no-cors fetch, a urlencoded re-run),
and test stacks at `<stack>.test.<domain>` are the same site as prod. So a POST or DELETE
that relies on the cookie must say it is same-origin:

- `Sec-Fetch-Site`, which every current browser sends and pages cannot set (a forbidden
  header name), must be `same-origin`
  (https://www.w3.org/TR/fetch-metadata/#sec-fetch-site-header);
- without it (an older browser), an `Origin` header, which browsers send with every POST
  and DELETE, must name this scheme, host and port: an origin is all three
  (https://www.rfc-editor.org/rfc/rfc6454#section-4), and a port left out means the
  scheme's default (https://url.spec.whatwg.org/#default-port). The gateway passes the
  Host header as the browser sent it, port included, for this.

Scripts are unaffected: a request with `Authorization: Bearer` carries its key itself
(a cross-site page cannot make a browser add that header without a CORS preflight, which
this API never grants), and a request with neither header came from no browser.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Request

from canny.client_text import quoted
from canny.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CrossOriginRequestError(ApiError):
    status = 403
    code = "cross_origin_request"


def check_same_origin(request: Request) -> None:
    """Refuse an unsafe request a browser sent from another origin (see above)."""
    if request.method in SAFE_METHODS or "Authorization" in request.headers:
        return
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        if fetch_site != "same-origin":
            raise CrossOriginRequestError(
                f"a {fetch_site[:20]} request may not change this gallery; use the page"
                " itself, or send the owner key as Authorization: Bearer"
            )
        return
    origin = request.headers.get("Origin")
    if origin is not None and not _is_own_origin(origin, request):
        raise CrossOriginRequestError(
            f"a request from {quoted(origin)} may not change this gallery; use the page"
            " itself, or send the owner key as Authorization: Bearer"
        )


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_triple(url: str) -> tuple[str, str | None, int | None]:
    """Scheme, host and port (the scheme's default when none is written); ValueError for a
    malformed port or brackets."""
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme)


def _is_own_origin(origin: str, request: Request) -> bool:
    try:
        return _origin_triple(origin) == _origin_triple(request.host_url)
    except ValueError:  # a malformed Origin (bad port, brackets) is nobody's
        return False
