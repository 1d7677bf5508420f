"""Host key pinning over a real sshd: the server's key is an ed25519 key in the OpenSSH form
pulumi_tls.PrivateKey gives (private_key_openssh / public_key_openssh) and cloud-init installs
as the host key; the client pins the public half, as the deploy's connections do."""

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ci.ssh import SshError, connect, run, session


def openssh_pair() -> tuple[bytes, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode() + "\n"


@pytest.fixture
def sshd_host_key(tmp_path):
    """The droplet's host key as the program generates it (overrides the conftest key)."""
    private, public = openssh_pair()
    path = tmp_path / "program_host_key"
    path.write_bytes(private)
    path.chmod(0o600)
    (tmp_path / "program_host_key.pub").write_text(public)
    return path


def pinned(remote_host, tmp_path, host_key: str):
    """known_hosts holding exactly the pinned key, the way a connection's host_key pins it."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{remote_host.target.port} {host_key.strip()}\n")
    return dataclasses.replace(remote_host.target, known_hosts=known_hosts)


def test_the_droplets_own_key_is_accepted(remote_host, sshd_host_key, tmp_path):
    host_key = sshd_host_key.with_name("program_host_key.pub").read_text()
    with session(pinned(remote_host, tmp_path, host_key), timeout=5) as client:
        assert run(client, "true").ok


def test_a_host_with_another_key_is_refused(remote_host, tmp_path):
    _, other_public = openssh_pair()
    target = pinned(remote_host, tmp_path, other_public)
    with pytest.raises(SshError, match="cannot connect"):
        connect(target, timeout=5)
    assert not remote_host.calls(), "nothing may run on a host whose key does not match"
