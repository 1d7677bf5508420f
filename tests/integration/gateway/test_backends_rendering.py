"""CANNY_BACKENDS, rendered by localrun and by the gateway container's entrypoint alike:
one upstream `server` per host:port, and nothing else (no way to inject directives)."""

from pathlib import Path

import pytest

from localrun.nginx_config import upstream_server_directives
from tests.integration.gateway.entrypoint_on_host import run_entrypoint

SERVER = "max_fails=3 fail_timeout=5s;"
BAD = ["backend:8000; allow all", "backend", ":8000", "backend:", "unix:/tmp/x", "-x:1"]


@pytest.mark.parametrize(
    "addresses",
    [["backend:8000"], ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]],
)
def test_localrun_and_the_entrypoint_render_the_same_servers(
    tmp_path: Path, addresses: list[str]
) -> None:
    local = upstream_server_directives(addresses)
    assert local == " ".join(f"server {address} {SERVER}" for address in addresses)
    container = run_entrypoint(tmp_path, {"CANNY_BACKENDS": " ".join(addresses)})
    assert container.returncode == 0, container.stderr
    assert " ".join(container.config.split()).count(f" {SERVER}") == len(addresses)
    for address in addresses:
        assert f"server {address} {SERVER}" in container.config


@pytest.mark.parametrize("bad", BAD)
def test_anything_but_host_and_port_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="not host:port"):
        upstream_server_directives(["backend:8000", bad])
    container = run_entrypoint(tmp_path, {"CANNY_BACKENDS": f"backend:8000 {bad}"})
    assert container.returncode == 64, container.stderr
    assert "CANNY_BACKENDS" in container.stderr and "is not host:port" in container.stderr


def test_no_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no backend"):
        upstream_server_directives([])
    container = run_entrypoint(tmp_path, {"CANNY_BACKENDS": ""})
    assert container.returncode == 64
    assert "CANNY_BACKENDS is not set" in container.stderr, container.stderr
