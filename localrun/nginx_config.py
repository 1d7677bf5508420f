"""Render the gateway template the way the container's envsubst does, but strictly.

envsubst silently turns an unset variable into an empty string, which nginx may then
accept with a different meaning; here a placeholder without a value is an error.
"""

import ipaddress
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from canny import MULTIPART_OVERHEAD_BYTES

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "app" / "gateway" / "nginx.conf.template"

PLACEHOLDER = re.compile(r"\$\{(CANNY_[A-Z0-9_]+)\}")


# `https://host[:port]/bucket`: path-style, the bucket as the only path segment.
BUCKET_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+(?::[0-9]{1,5})?)/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])"
)


# An upstream server: a host name or IPv4 address and a port.
UPSTREAM_ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*:[0-9]{1,5}")


class MissingPlaceholderError(ValueError):
    """The template names placeholders that were given no value."""


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    missing = placeholders(template) - values.keys()
    if missing:
        raise MissingPlaceholderError(
            f"no value for gateway template placeholder(s): {', '.join(sorted(missing))}"
        )
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def render_template_file(values: Mapping[str, str], template_path: Path = TEMPLATE_PATH) -> str:
    return render(template_path.read_text(encoding="utf-8"), values)


def gateway_body_limit(max_upload_bytes: int) -> int:
    """CANNY_MAX_BODY, nginx's client_max_body_size in bytes: exactly the backends' own
    request limit, the file plus the multipart envelope, so the gateway never refuses what
    a backend would take. app/gateway/docker-entrypoint applies the same rule in the
    container (tests/integration/gateway/test_body_limit_rendering.py holds them together)."""
    return max_upload_bytes + MULTIPART_OVERHEAD_BYTES


def trusted_proxy_directives(addresses: Iterable[str]) -> str:
    """CANNY_TRUSTED_PROXIES as the template takes it: one `set_real_ip_from` per address or
    CIDR, nothing for none (trust nobody). Each must parse as an address, so no value can
    smuggle other directives into the config."""
    networks = (ipaddress.ip_network(address, strict=False) for address in addresses)
    return " ".join(f"set_real_ip_from {network};" for network in networks)


def upstream_server_directives(addresses: Iterable[str]) -> str:
    """CANNY_BACKENDS as the template takes it: one upstream `server` per backend address
    (host:port), the same directives app/gateway/docker-entrypoint renders in the container.
    Each must be host:port, so no value can smuggle other directives into the config."""
    servers = []
    for address in addresses:
        if not UPSTREAM_ADDRESS.fullmatch(address):
            raise ValueError(f"backend address {address!r} is not host:port")
        servers.append(f"server {address} max_fails=3 fail_timeout=5s;")
    if not servers:
        raise ValueError("no backend addresses: the gateway needs at least one")
    return " ".join(servers)


def results_source_directives(results_dir: Path, bucket_url: str = "") -> str:
    """CANNY_RESULTS_SOURCE as the template takes it: where /results/<id>.* comes from.

    Without a bucket, the results folder (`alias`). With one (`https://host/bucket`), the
    bucket, proxied path-style for the one object the location matched: never a listing
    (the location only matches result names), only GET/HEAD, without the client's cookie
    or Authorization header, the store's own Cache-Control and x-amz-* headers dropped so
    the gateway's `private` one applies, and the store's 403/404 answered as our JSON 404
    (https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_intercept_errors).
    The host is resolved when nginx starts, as proxy_pass without variables does.
    """
    if not bucket_url:
        return f'alias "{results_dir}/$1";'
    match = BUCKET_URL.fullmatch(bucket_url)
    if match is None:
        raise ValueError(
            f"not a bucket URL like https://fra1.digitaloceanspaces.com/bucket: {bucket_url!r}"
        )
    scheme, host, bucket = match.groups()
    directives = [
        "limit_except GET { deny all; }",
        f'rewrite "^/results/(.+)$" "/{bucket}/$1" break;',
        f'proxy_set_header Host "{host}";',
        'proxy_set_header Connection "";',
        'proxy_set_header Authorization "";',
        'proxy_set_header Cookie "";',
        "proxy_hide_header Cache-Control;",
        "proxy_hide_header Set-Cookie;",
        "proxy_hide_header x-amz-request-id;",
        "proxy_hide_header x-amz-id-2;",
        "proxy_intercept_errors on;",
    ]
    if scheme == "https":
        directives.append("proxy_ssl_server_name on;")
    directives.append(f"proxy_pass {scheme}://{host};")
    return " ".join(directives)
