"""localrun.readiness.wait_until: the one startup poll the local stack, local monitoring
and the rehearsal's services (registry, Spaces, balancer, dockerd, sshd) share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from localrun.readiness import StartupError, wait_until


class DaemonError(RuntimeError):
    pass


def test_a_process_that_exits_fails_at_once_with_the_callers_error_and_its_log(
    tmp_path: Path,
) -> None:
    log = tmp_path / "daemon.log"
    log.write_text("bind: address already in use\n")
    with subprocess.Popen([sys.executable, "-c", "pass"]) as process:
        process.wait()
        with pytest.raises(DaemonError, match="exited while starting:\nbind: address"):
            wait_until("daemon", lambda: False, process, log, timeout=60, error=DaemonError)


def test_it_returns_once_ready_and_times_out_otherwise(tmp_path: Path) -> None:
    answers = iter([False, False, True])
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as process:
        try:
            wait_until("daemon", lambda: next(answers), process, tmp_path / "log", timeout=10)
            with pytest.raises(StartupError, match="daemon not ready after 0s"):
                wait_until("daemon", lambda: False, process, tmp_path / "log", timeout=0.3)
        finally:
            process.kill()
