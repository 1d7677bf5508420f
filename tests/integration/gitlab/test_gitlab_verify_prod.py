"""verify_prod as GitLab would run it (gitlab-ci-local, shell executor), with `pip` and
`python` stand-ins so no network or deployment is needed: a failed smoke test must roll
back and still fail the job; a passing one must leave prod alone."""

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.gitlab.conftest import isolated_environ

STAND_IN = """\
#!/bin/bash
echo "$(basename "$0") $*" >> "$STAND_IN_LOG"
case "$*" in
  *ci.smoke*) exit "$SMOKE_EXIT" ;;
  *ci.rollback*) exit "$ROLLBACK_EXIT" ;;
esac
"""
SMOKE = "python -m ci.smoke http://203.0.113.7 --wait 180"
ROLLBACK = "python -m ci.rollback --host 203.0.113.7"


@pytest.mark.parametrize(
    ("smoke_exit", "rollback_exit", "job_exit", "calls"),
    [
        (0, 0, 0, [SMOKE]),
        (1, 0, 1, [SMOKE, ROLLBACK]),
        (1, 1, 1, [SMOKE, ROLLBACK]),
    ],
    ids=["smoke passes", "smoke fails, rollback works", "smoke fails, rollback fails"],
)
def test_verify_prod_rolls_back_and_fails_on_a_failed_smoke_test(
    smoke_exit: int,
    rollback_exit: int,
    job_exit: int,
    calls: list[str],
    checkout: Callable[[str, str | None], Path],
    require_tool: Callable[[str], str],
    tmp_path: Path,
) -> None:
    gitlab_ci_local = require_tool("gitlab-ci-local")
    require_tool("rsync")
    repo = checkout("production", None)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python", "pip"):
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(stat.S_IRWXU)
    log = tmp_path / "calls.log"
    env = isolated_environ(
        tmp_path / "home",
        STAND_IN_LOG=str(log),
        SMOKE_EXIT=str(smoke_exit),
        ROLLBACK_EXIT=str(rollback_exit),
    )
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        [
            gitlab_ci_local,
            "verify_prod",
            "--force-shell-executor",
            "--variable",
            "DEPLOY_URL=http://203.0.113.7",
            "--variable",
            "DEPLOY_IP=203.0.113.7",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == job_exit, result.stdout + result.stderr
    ran = [line for line in log.read_text().splitlines() if not line.startswith("pip ")]
    assert ran == calls, f"verify_prod ran {ran}"
