"""The naive peer as the bench runs it: gunicorn, 2 sync workers, on a free loopback port."""

import time
from pathlib import Path

import requests

from bench import images
from bench.peer import Peer
from bench.proc_stats import ProcStat, group_members


def workers_of(master: int, expected: int, timeout: float = 30.0) -> list[ProcStat]:
    """gunicorn answers once one worker is up; the others may still be booting."""
    deadline = time.monotonic() + timeout
    while True:
        workers = [member for member in group_members([master]) if member.ppid == master]
        if len(workers) >= expected or time.monotonic() > deadline:
            return workers
        time.sleep(0.1)


def test_peer_serves_uploads_from_two_sync_workers(tmp_path: Path) -> None:
    # 1080p: enough work that the CPU counters (10 ms ticks) must move.
    upload = images.sample("1080p", "jpeg").data
    with Peer(tmp_path) as peer:
        assert peer.url.startswith("http://127.0.0.1:")
        master = peer.pid
        assert len(workers_of(master, 2)) == 2
        cpu_before = peer.cpu_seconds()
        answer = requests.post(
            peer.url + "/api/images", files={"file": ("scene.jpg", upload)}, timeout=60
        )
        assert answer.status_code == 201, answer.text
        peer.wait_until_idle()
        assert peer.results_count() == 1
        assert peer.cpu_seconds() > cpu_before
        log = peer.log_path.read_text()
    assert "Booting worker" in log and "sync" in log, log
    assert group_members([master]) == [], "the peer's processes are gone after exit"
