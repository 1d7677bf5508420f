"""CANNY_TRUSTED_PROXIES as localrun renders it: one `set_real_ip_from` per address, none
for an empty list, and nothing but addresses (no way to inject other directives)."""

from collections.abc import Callable
from pathlib import Path

import pytest

from localrun import LocalStack
from localrun.nginx_config import trusted_proxy_directives
from tests.integration.gateway.local_rendering import check_local_rendering


@pytest.mark.parametrize(
    ("addresses", "rendered"),
    [
        ([], ""),
        (["10.110.0.0/20"], "set_real_ip_from 10.110.0.0/20;"),
        (
            ["10.110.0.5", "2001:db8::/32"],
            "set_real_ip_from 10.110.0.5/32; set_real_ip_from 2001:db8::/32;",
        ),
    ],
)
def test_each_address_becomes_one_directive(addresses: list[str], rendered: str) -> None:
    assert trusted_proxy_directives(addresses) == rendered


@pytest.mark.parametrize("bad", ["10.0.0.0/8; allow all", "lb.example.com", "unix:", ""])
def test_anything_but_an_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        trusted_proxy_directives([bad])


def test_rendering_with_trusted_proxies_passes_nginx_t(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    stack = LocalStack(tmp_path, trusted_proxies=["10.110.0.0/20", "192.0.2.7"])
    result = check_local_rendering(require_tool("nginx"), stack, "-T")
    assert result.returncode == 0, result.stderr
    for directive in ("set_real_ip_from 10.110.0.0/20;", "set_real_ip_from 192.0.2.7/32;"):
        assert directive in result.stdout
