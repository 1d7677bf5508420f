"""CANNY_TRUSTED_PROXIES as localrun renders it: one `set_real_ip_from` per address, none
for an empty list, and nothing but addresses (no way to inject other directives)."""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from localrun import LocalStack
from localrun.nginx_config import render_template_file, trusted_proxy_directives


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
    config = tmp_path / "nginx.conf"
    config.write_text(render_template_file(stack.gateway_values()))
    (stack.scratch_dir / "temp").mkdir(parents=True)
    stack.state_dir.mkdir()
    (tmp_path / "logs").mkdir()
    try:
        result = subprocess.run(
            [require_tool("nginx"), "-T", "-p", str(tmp_path), "-c", str(config), "-e", "stderr"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        shutil.rmtree(stack.scratch_dir)
    assert result.returncode == 0, result.stderr
    for directive in ("set_real_ip_from 10.110.0.0/20;", "set_real_ip_from 192.0.2.7/32;"):
        assert directive in result.stdout
