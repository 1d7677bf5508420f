"""A real sshd on 127.0.0.1 (own config, host key and pid file; key auth only), with stand-in
`docker`, `docker-compose`, `cloud-init` and `gitlab-runner` on its sessions' PATH, for the
remote scripts and ci/ssh.py. One sshd per test: each test gets its own state and nothing leaks."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ci.ssh import CommandResult, SshTarget, run, session
from infra.bundle import REMOTE_FILES, REMOTE_SCRIPTS_DIR
from tests.conftest import pick_free_port

STAND_INS = Path(__file__).with_name("fake_host_tools.py")
START_TIMEOUT = 10.0


@dataclass
class RemoteHost:
    target: SshTarget
    app_dir: Path
    state_dir: Path
    sshd_log: Path

    def run(self, command: str, stdin: str | None = None) -> CommandResult:
        with session(self.target) as client:
            return run(client, command, stdin=stdin, timeout=60)

    def control(self, name: str, value: str) -> None:
        (self.state_dir / name).write_text(value, encoding="utf-8")

    def calls(self, tool: str | None = None) -> list[dict]:
        log = self.state_dir / "calls.jsonl"
        entries = (
            [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        )
        return [entry for entry in entries if tool is None or entry["tool"] == tool]

    def compose_calls(self) -> list[list[str]]:
        """Compose subcommands in order, whichever CLI ran them."""
        found = []
        for entry in self.calls():
            if entry["tool"] == "docker" and entry["argv"][:1] == ["compose"]:
                found.append(entry["argv"][1:])
            elif entry["tool"] == "docker-compose":
                found.append(entry["argv"])
        return found


def _keygen(ssh_keygen: str, path: Path) -> None:
    subprocess.run(
        [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30
    )


def _install_stand_ins(bin_dir: Path) -> None:
    bin_dir.mkdir()
    source = STAND_INS.read_text(encoding="utf-8")
    for tool in ("docker", "docker-compose", "cloud-init", "gitlab-runner"):
        path = bin_dir / tool
        path.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
        path.chmod(0o755)


def _install_bundle_scripts(app_dir: Path) -> None:
    """The remote files where the deploy puts them: scripts in bin/, overrides beside."""
    for name, remote in REMOTE_FILES.items():
        target = app_dir / remote
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REMOTE_SCRIPTS_DIR / name, target)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sshd exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"sshd did not listen on {port} within {START_TIMEOUT}s:\n{log.read_text()}")


def _sshd_config(root: Path, port: int, bin_dir: Path, state_dir: Path, host_key: Path) -> Path:
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {root / 'client_key.pub'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                f"SetEnv PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin FAKE_STATE_DIR={state_dir}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return config


@pytest.fixture
def sshd_host_key(require_tool, tmp_path) -> Path:
    """The sshd's private host key file (public half beside it as .pub); a test module may
    override this fixture to serve a key made another way."""
    path = tmp_path / "host_key"
    _keygen(require_tool("ssh-keygen"), path)
    return path


@pytest.fixture
def remote_host(require_tool, tmp_path, sshd_host_key) -> Iterator[RemoteHost]:
    sshd = require_tool("sshd")
    ssh_keygen = require_tool("ssh-keygen")
    _keygen(ssh_keygen, tmp_path / "client_key")
    bin_dir, state_dir, app_dir = tmp_path / "bin", tmp_path / "state", tmp_path / "app"
    _install_stand_ins(bin_dir)
    state_dir.mkdir()
    _install_bundle_scripts(app_dir)
    port = pick_free_port()
    config = _sshd_config(tmp_path, port, bin_dir, state_dir, sshd_host_key)
    # sshd insists on its privilege-separation folder when started as root.
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = tmp_path / "sshd.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stderr=log_file)
    try:
        _wait_for_port(port, process, log)
        user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout
        target = SshTarget("127.0.0.1", user.strip(), port, tmp_path / "client_key")
        yield RemoteHost(target, app_dir, state_dir, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class _GatewayStub(BaseHTTPRequestHandler):
    """Answers like the gateway with healthy backends: 200 for /api/images, else 404."""

    def do_GET(self) -> None:
        ok = self.path.startswith("/api/images")
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"items": [], "next": null}' if ok else b"{}")

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


@pytest.fixture
def gateway_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GatewayStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/images?limit=1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
