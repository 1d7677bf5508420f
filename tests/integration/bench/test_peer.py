"""The naive peer as the bench runs it: gunicorn, 2 sync workers, on a free loopback port."""

from pathlib import Path

import requests

from bench import images
from bench.peer import Peer
from bench.proc_stats import group_members


def test_peer_serves_uploads_from_two_sync_workers(tmp_path: Path) -> None:
    upload = images.encode(images.scene(320, 180), "jpeg")
    with Peer(tmp_path) as peer:
        assert peer.url.startswith("http://127.0.0.1:")
        master = peer._process.pid
        workers = [member for member in group_members([master]) if member.ppid == master]
        assert len(workers) == 2, workers
        cpu_before = peer.cpu_seconds()
        answer = requests.post(
            peer.url + "/api/images", files={"file": ("scene.jpg", upload)}, timeout=30
        )
        assert answer.status_code == 201, answer.text
        peer.wait_until_idle()
        assert peer.results_count() == 1
        assert peer.cpu_seconds() > cpu_before
        log = peer.log_path.read_text()
    assert "Booting worker" in log and "sync" in log, log
    assert group_members([master]) == [], "the peer's processes are gone after exit"
