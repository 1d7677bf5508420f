"""The gateway's body limit comes from the one CANNY_MAX_UPLOAD_BYTES: the container's
entrypoint and localrun derive the same client_max_body_size from it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from localrun import LocalStack
from localrun.nginx_config import gateway_body_limit, render_template_file
from tests.integration.gateway.entrypoint_on_host import image_defaults, run_entrypoint


def client_max_body_size(config: str) -> int:
    sizes = set(re.findall(r"^\s*client_max_body_size (\S+);", config, flags=re.MULTILINE))
    assert len(sizes) == 1, f"expected one client_max_body_size, found {sizes}"
    return int(sizes.pop())


@pytest.mark.parametrize("limit", [1, 5_000_000, 20 * 1024 * 1024, 2**40])
def test_the_entrypoint_and_localrun_derive_the_same_body_limit(
    tmp_path: Path, limit: int, require_tool: Callable[[str], str]
) -> None:
    require_tool("envsubst")
    run = run_entrypoint(tmp_path, {"CANNY_MAX_UPLOAD_BYTES": str(limit)})
    assert run.returncode == 0, run.stderr
    stack = LocalStack(tmp_path / "run", max_upload_bytes=limit)
    local = client_max_body_size(render_template_file(stack.gateway_values()))
    assert client_max_body_size(run.config) == local
    assert local == gateway_body_limit(limit) > limit, "no room for the multipart envelope"


def test_the_image_default_is_the_backends_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started without compose, the gateway admits what a backend with its own default
    limit accepts (localrun reads that default from the backend's settings)."""
    monkeypatch.delenv("CANNY_MAX_UPLOAD_BYTES", raising=False)
    backend_default = LocalStack(tmp_path).max_upload_bytes
    assert int(image_defaults()["CANNY_MAX_UPLOAD_BYTES"]) == backend_default


@pytest.mark.parametrize("value", ["", "20MB", "1_000", "010", "-5", "1e6"])
def test_the_entrypoint_refuses_a_limit_that_is_not_plain_bytes(
    tmp_path: Path, value: str, require_tool: Callable[[str], str]
) -> None:
    require_tool("envsubst")
    run = run_entrypoint(tmp_path, {"CANNY_MAX_UPLOAD_BYTES": value})
    assert run.returncode == 64, run.stderr
    assert "CANNY_MAX_UPLOAD_BYTES" in run.stderr
    assert run.config == ""
