"""`ci/smoke.py`, the pipeline's own smoke test, pointed at the rehearsal's entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra.bundle import REPO_ROOT

SMOKE_TIMEOUT_S = 300


def run_smoke(
    url: str, certificate: Path | None, wait_s: float = 90
) -> subprocess.CompletedProcess:
    """Runs `python -m ci.smoke URL --wait`; `certificate` is the balancer's, trusted alone.
    Proxies are left out: every address here is this machine's own."""
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    if certificate is not None:
        env["REQUESTS_CA_BUNDLE"] = str(certificate)
    return subprocess.run(
        [sys.executable, "-m", "ci.smoke", url, "--wait", str(wait_s)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
        check=False,
    )
