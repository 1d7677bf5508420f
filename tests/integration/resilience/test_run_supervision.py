"""`./run` (python -m localrun, what ./run execs) keeps serving when a backend dies: the
gateway sends uploads to the other backend, and the dead one is restarted."""

import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localrun.readiness import status_of
from tests.conftest import pick_free_port
from tests.integration.gateway.local_run_process import (
    LOCALRUN,
    local_run,
    process_tree,
    read_until,
    wait_until_gone,
)
from tests.integration.resilience.load_client import BackgroundUploads

BACK_WITHIN_SECONDS = 30
# gunicorn retries a taken port 5 times, 1 s apart (gunicorn/sock.py create_sockets), so
# each failed restart takes ~5 s; with the backoff, 5 exits take ~30 s.
CRASH_LOOP_STOPS_WITHIN_SECONDS = 90


@dataclass
class RunningApp:
    url: str


def gunicorn_masters(run_pid: int) -> dict[str, int]:
    """The gunicorn masters that the local run started, by the address they serve."""
    masters = {}
    for pid in process_tree(run_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent != run_pid or b"gunicorn" not in command:
            continue
        for variable in environ:
            if variable.startswith(b"CANNY_BIND="):
                masters[variable.split(b"=", 1)[1].decode()] = pid
    return masters


def wait_for_new_master(run_pid: int, address: str, old_pid: int) -> int:
    """Poll, bounded, until a new master serves `address` and is ready; its pid."""
    deadline = time.monotonic() + BACK_WITHIN_SECONDS
    while time.monotonic() < deadline:
        pid = gunicorn_masters(run_pid).get(address)
        if pid not in (None, old_pid) and status_of(f"http://{address}/readyz") == 200:
            return pid
        time.sleep(0.1)
    raise AssertionError(f"no new backend on {address} within {BACK_WITHIN_SECONDS}s")


def test_sigkill_of_a_backend_master_fails_no_upload_and_it_is_back(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("nginx")
    port = pick_free_port()
    with local_run(LOCALRUN, tmp_path, port) as process:
        read_until(process, "Press Ctrl-C to stop", timeout=90)
        masters = gunicorn_masters(process.pid)
        assert len(masters) == 2, f"expected two gunicorn masters, found {masters}"
        address, victim = sorted(masters.items())[0]

        # ./run keeps its rate limit (5 uploads/s per address, bursts of 20): stay under it.
        app = RunningApp(f"http://127.0.0.1:{port}")
        with BackgroundUploads(app, threads=2, pause_seconds=0.4, limit=400) as load:
            load.wait_for(15)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            wait_for_new_master(process.pid, address, victim)
            back_after = time.monotonic() - killed_at
            load.wait_for(20)
        figures = (
            f"{len(load.statuses) + len(load.failures)} uploads, {len(load.failures)} failed; "
            f"the killed backend was back after {back_after:.1f}s"
        )
        print(figures)
        assert load.failures == [], f"{figures}: {load.failures[:5]}"
        assert back_after < BACK_WITHIN_SECONDS

        output = read_until(process, " restarted", timeout=10)
        assert "exited (code -9); restarting it in 0.5s" in output, output

        tree = process_tree(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, "a supervised run still stops cleanly"
        assert not wait_until_gone(tree), "processes outlived the local run"


def squat(address: str, timeout: float = 5) -> socket.socket:
    """Listen on a backend's address (as another program might) so it cannot start."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind((host, int(port)))
        except OSError:
            squatter.close()
            assert time.monotonic() < deadline, f"{address} stayed taken"
            time.sleep(0.05)
            continue
        squatter.listen()
        return squatter


def test_a_crash_looping_backend_stops_the_run_with_a_clear_report(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("nginx")
    with local_run(LOCALRUN, tmp_path, pick_free_port()) as process:
        read_until(process, "Press Ctrl-C to stop", timeout=90)
        tree = process_tree(process.pid)
        address, victim = sorted(gunicorn_masters(process.pid).items())[0]
        os.killpg(victim, signal.SIGKILL)
        with squat(address):
            output, _ = process.communicate(timeout=CRASH_LOOP_STOPS_WITHIN_SECONDS)
        text = output.decode(errors="replace")
        assert process.returncode == 1, text
        assert "exited 5 times within 60s" in text, text
        assert "it is crash-looping, so the run stops" in text, text
        assert "Connection in use" in text, "the report should show the cause from the log"
        assert not wait_until_gone(tree), "processes outlived the stopped run"
