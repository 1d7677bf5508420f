"""The gateway container's entrypoint, run on this machine: its paths moved into a test
folder and a stand-in `nginx` on PATH, so what it renders (or refuses) can be compared
with localrun's rendering without building an image."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from localrun.nginx_config import REPO_ROOT, TEMPLATE_PATH

ENTRYPOINT = REPO_ROOT / "app" / "gateway" / "docker-entrypoint"
DOCKERFILE = REPO_ROOT / "app" / "gateway" / "Dockerfile"


def image_defaults() -> dict[str, str]:
    """The CANNY_* values the gateway image sets with ENV, as the entrypoint sees them."""
    found = re.findall(r"\b(CANNY_[A-Z0-9_]+)=(\S+)", DOCKERFILE.read_text())
    return {name: value.strip('"') for name, value in found}


@dataclass(frozen=True)
class EntrypointRun:
    returncode: int
    stderr: str
    config: str


def run_entrypoint(folder: Path, inputs: Mapping[str, str]) -> EntrypointRun:
    """Run the entrypoint with the given CANNY_* inputs over the image's defaults; the
    config it rendered, empty when it refused to start. nginx itself never runs."""
    config = folder / "nginx.conf"
    script = ENTRYPOINT.read_text()
    script = script.replace("/etc/canny/nginx.conf.template", str(TEMPLATE_PATH))
    script = script.replace("/tmp/nginx.conf", str(config))
    (folder / "entrypoint").write_text(script)
    (folder / "bin").mkdir()
    (folder / "bin" / "nginx").write_text("#!/bin/sh\nexit 0\n")
    (folder / "bin" / "nginx").chmod(0o755)
    env = {
        "PATH": f"{folder / 'bin'}:{os.environ['PATH']}",
        **image_defaults(),
        "CANNY_TEMP_DIR": str(folder / "temp"),
        **inputs,
    }
    result = subprocess.run(
        ["sh", str(folder / "entrypoint")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    rendered = config.read_text() if config.exists() else ""
    return EntrypointRun(result.returncode, result.stderr, rendered)
