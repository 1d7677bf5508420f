"""The droplet's metadata block, run for real with iptables in a network namespace made here.

The namespace stands in for the droplet: the metadata address sits on its loopback with a
listener behind it, Docker's DOCKER-USER chain is created as dockerd would, and the rendered
script adds its rules there. The runner's user is swapped for `nobody` (an unprivileged user
this machine has); the rule is the same owner match.
"""

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from infra.cloud_init import (
    METADATA_ADDRESS,
    METADATA_BLOCK_PATH,
    RUNNER_USER,
    HostKey,
    UserDataInputs,
    render_user_data,
)
from infra.offline import MOCK_HOST_PRIVATE_KEY, MOCK_HOST_PUBLIC_KEY, MOCK_PUBLIC_KEY

STAND_IN_USER = "nobody"
PORT = 80
# Accepts a bounded number of connections on the metadata address, then exits.
LISTENER = f"""
import socket
server = socket.create_server(("{METADATA_ADDRESS}", {PORT}))
server.settimeout(30)
print("listening", flush=True)
for _ in range(4):
    try:
        connection, _ = server.accept()
    except TimeoutError:
        break
    connection.close()
"""
CONNECT = f"""
import socket, sys
try:
    socket.create_connection(("{METADATA_ADDRESS}", {PORT}), timeout=5).close()
except ConnectionRefusedError:
    sys.exit(3)
"""


def block_script() -> str:
    inputs = UserDataInputs(
        "deploy", MOCK_PUBLIC_KEY, HostKey(MOCK_HOST_PRIVATE_KEY, MOCK_HOST_PUBLIC_KEY), None
    )
    files = {
        item["path"]: item["content"]
        for item in yaml.safe_load(render_user_data(inputs))["write_files"]
    }
    script = files[METADATA_BLOCK_PATH]
    assert f"--uid-owner {RUNNER_USER} " in script
    return script.replace(f"--uid-owner {RUNNER_USER} ", f"--uid-owner {STAND_IN_USER} ")


@pytest.fixture
def droplet_namespace(require_tool) -> Iterator[list[str]]:
    """`nsenter --net=...`: commands after it run in a fresh network namespace."""
    ip = require_tool("ip")
    for tool in ("iptables", "nsenter", "setpriv"):
        require_tool(tool)
    if os.geteuid() != 0:
        pytest.fail("network namespaces and iptables need root (CI runs as root)")
    name = f"canny-metadata-{os.getpid()}"
    subprocess.run([ip, "netns", "add", name], check=True, timeout=30)
    enter = ["nsenter", f"--net=/var/run/netns/{name}"]
    try:
        for command in (
            [ip, "link", "set", "lo", "up"],
            [ip, "addr", "add", f"{METADATA_ADDRESS}/32", "dev", "lo"],
            # What dockerd creates when it starts (the unit runs after docker.service).
            ["iptables", "-N", "DOCKER-USER"],
        ):
            subprocess.run([*enter, *command], check=True, timeout=30)
        yield enter
    finally:
        subprocess.run([ip, "netns", "del", name], check=False, timeout=30)


def connect(enter: list[str], *as_user: str) -> int:
    return subprocess.run(
        [*enter, *as_user, sys.executable, "-c", CONNECT], timeout=30, check=False
    ).returncode


def test_the_runners_user_cannot_reach_the_metadata_service(droplet_namespace, tmp_path):
    enter = droplet_namespace
    script = tmp_path / "canny-metadata-block"
    script.write_text(block_script())
    listener = subprocess.Popen(
        [*enter, sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert listener.stdout is not None and listener.stdout.readline() == "listening\n"
        as_runner = ["setpriv", f"--reuid={STAND_IN_USER}", "--regid=nogroup", "--clear-groups"]
        assert connect(enter) == 0, "root reaches the listener before any rule"
        assert connect(enter, *as_runner) == 0, "and so does the runner's user"
        # The unit runs on every docker start: twice here, each rule must be there once.
        for _ in range(2):
            subprocess.run([*enter, "sh", str(script)], check=True, timeout=30)
        assert connect(enter, *as_runner) == 3, "the runner's user still reaches it"
        assert connect(enter) == 0, "root (cloud-init, the DigitalOcean agent) must still reach it"
    finally:
        listener.kill()
        listener.wait(timeout=30)
        if listener.stdout is not None:
            listener.stdout.close()
    rules = subprocess.run(
        [*enter, "iptables", "-S"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    metadata = [rule for rule in rules if METADATA_ADDRESS in rule]
    assert len(metadata) == 2, metadata
    assert any(rule.startswith("-A DOCKER-USER ") for rule in metadata), metadata
    assert any(rule.startswith("-A OUTPUT ") and "--uid-owner" in rule for rule in metadata)
