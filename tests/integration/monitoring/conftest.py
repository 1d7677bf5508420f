"""Fixtures shared by the monitoring tests: the webhook Alertmanager sends to, and a real
Alertmanager started with the repo's alertmanager.yml pointed at it."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localrun import processes
from localrun.monitoring import alertmanager_command
from localrun.readiness import wait_until_ok
from tests.conftest import pick_free_port
from tests.integration.monitoring.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def alertmanager(
    tmp_path: Path, receiver: WebhookReceiver, require_tool: Callable[[str], str]
) -> Iterator[str]:
    """host:port of Debian's prometheus-alertmanager running the repo's config (as
    `./run --monitoring` starts it), its Slack webhook URL file naming `receiver`."""
    require_tool("prometheus-alertmanager")
    address = f"127.0.0.1:{pick_free_port()}"
    folder = tmp_path / "alertmanager"
    command = alertmanager_command(folder, address)
    secrets = folder / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "slack-webhook-url").write_text(receiver.url + "\n")
    log = tmp_path / "alertmanager.log"
    process: subprocess.Popen = processes.spawn(command, env={}, log_path=log, cwd=folder)
    try:
        wait_until_ok("alertmanager", process, f"http://{address}/-/ready", log, 30.0)
        yield address
    finally:
        processes.stop(process)


def start_prometheus(
    name: str, folder: Path, config: str, address: str, binary: str
) -> subprocess.Popen:
    """A real Prometheus with `config` (YAML) in `folder`, ready on `address`; the caller
    stops it with localrun.processes.stop."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "prometheus.yml"
    config_path.write_text(config)
    command = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address={address}",
    ]
    log = folder / "prometheus.log"
    process = processes.spawn(command, env={}, log_path=log, cwd=folder)
    try:
        wait_until_ok(name, process, f"http://{address}/-/ready", log, 30.0)
    except BaseException:
        processes.stop(process)
        raise
    return process
