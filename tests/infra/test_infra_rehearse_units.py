"""The rehearsal's decisions that need no droplet: when a remote step runs again (as
pulumi-command decides), what a droplet takes from its user data, and the Spaces DNS."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pulumi
import pytest

from infra.bundle import REMOTE_APP_DIR
from infra.cloud_init import HostKey, UserDataInputs, render_user_data
from infra.rehearse.droplets import Boot
from infra.rehearse.mocks import ed25519_openssh
from infra.rehearse.remote_steps import COMMAND, COPY_TO_REMOTE, Action, decide, record
from infra.rehearse.spaces_dns import answer

CONNECTION = {
    "host": "10.213.0.2",
    "user": "deploy",
    "privateKey": "key",
    "hostKey": "ssh-ed25519 A",
}


def _command(**changes: object) -> dict:
    return {
        "connection": CONNECTION,
        "create": "bash x.sh",
        "stdin": "a\n",
        "triggers": ["1"],
    } | changes


def _copy(tmp_path: Path, text: str = "v1", **changes: object) -> dict:
    source = tmp_path / "file"
    source.write_text(text)
    inputs = {"connection": CONNECTION, "source": pulumi.FileAsset(str(source))}
    return inputs | {"remotePath": f"{REMOTE_APP_DIR}/file", "triggers": ["1"]} | changes


@pytest.mark.parametrize(
    ("changes", "action"),
    [
        ({}, Action.SAME),
        ({"triggers": ["2"]}, Action.REPLACE),  # command.go: triggers replaceOnChanges
        ({"stdin": "b\n"}, Action.UPDATE),  # Update runs create again
        ({"connection": CONNECTION | {"host": "10.213.0.6"}}, Action.UPDATE),
    ],
)
def test_a_command_runs_again_when_pulumi_command_would(changes: dict, action: Action) -> None:
    assert decide(record(COMMAND, _command()), record(COMMAND, _command(**changes))) is action


def test_a_new_command_is_created() -> None:
    assert decide(None, record(COMMAND, _command())) is Action.CREATE


def test_a_copy_runs_again_only_for_new_content_path_or_triggers(tmp_path: Path) -> None:
    before = record(COPY_TO_REMOTE, _copy(tmp_path))
    moved_host = _copy(tmp_path, connection=CONNECTION | {"host": "10.213.0.6"})
    # copyController.go: needCopy only when the source's hash or the remote path changed.
    assert decide(before, record(COPY_TO_REMOTE, moved_host)) is Action.SAME
    assert decide(before, record(COPY_TO_REMOTE, _copy(tmp_path, "v2"))) is Action.UPDATE
    renamed = _copy(tmp_path, remotePath=f"{REMOTE_APP_DIR}/other")
    assert decide(before, record(COPY_TO_REMOTE, renamed)) is Action.UPDATE
    assert decide(before, record(COPY_TO_REMOTE, _copy(tmp_path, triggers=["2"]))) is Action.REPLACE


def test_a_droplet_boots_with_the_programs_host_key_and_deploy_key() -> None:
    host_private, host_public = ed25519_openssh()
    _, deploy_public = ed25519_openssh()
    user_data = render_user_data(
        UserDataInputs(
            deploy_user="deploy",
            ssh_public_key=deploy_public,
            host_key=HostKey(private_openssh=host_private, public_openssh=host_public),
            results_volume_name=None,
        )
    )
    boot = Boot.from_user_data(user_data)
    assert boot.host_private_key.strip() == host_private.strip()
    assert boot.authorized_keys == (deploy_public,)
    assert boot.deploy_user == "deploy"


def _query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return (
        struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, 1)
    )


def test_spaces_names_resolve_to_the_stand_in_and_nothing_else_does() -> None:
    reply = answer(_query("fra1.digitaloceanspaces.com"), "10.213.0.9")
    assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == 0
    assert struct.unpack("!H", reply[6:8])[0] == 1
    assert reply.endswith(socket.inet_aton("10.213.0.9"))
    other = answer(_query("example.com"), "10.213.0.9")
    assert other[3] & 0x0F == 3 and struct.unpack("!H", other[6:8])[0] == 0  # NXDOMAIN
