"""ci/ssh.py against a real sshd: commands, stdin, key-only auth and host key pinning."""

import dataclasses
import subprocess

import pytest

from ci.ssh import SshError, connect, run, session


def test_run_returns_status_and_both_streams(remote_host):
    result = remote_host.run("echo out; echo err >&2; exit 3")
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok


def test_stdin_reaches_the_command(remote_host):
    assert remote_host.run("cat", stdin="line one\nline two\n").stdout == "line one\nline two\n"


def test_an_unknown_key_is_refused(remote_host, require_tool, tmp_path):
    other_key = tmp_path / "other_key"
    subprocess.run(
        [require_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)],
        check=True,
        timeout=30,
    )
    with pytest.raises(SshError, match="cannot connect to"):
        connect(dataclasses.replace(remote_host.target, key_file=other_key), timeout=5)


@pytest.mark.parametrize("matching", [True, False])
def test_a_pinned_host_key_is_enforced(remote_host, tmp_path, matching):
    root = remote_host.target.key_file.parent
    host_key = (root / "host_key.pub") if matching else (root / "client_key.pub")
    key_type, key_data = host_key.read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{remote_host.target.port} {key_type} {key_data}\n")
    target = dataclasses.replace(remote_host.target, known_hosts=known_hosts)
    if matching:
        with session(target, timeout=5) as client:
            assert run(client, "true").ok
    else:
        with pytest.raises(SshError, match="cannot connect"):
            connect(target, timeout=5)
