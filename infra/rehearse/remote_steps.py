"""pulumi-command's remote resources, run for real over SSH, as pulumi-command 1.2.1 runs them.

- `command:remote:Command`: `create` with `stdin` and `environment` in one SSH session; a
  non-zero exit fails the step with its output. On a later `up`, a change of `triggers`
  replaces it (`provider:"replaceOnChanges"`, provider/pkg/provider/remote/command.go), any
  other changed input updates it, and Update runs `update`, else `create` again
  (provider/pkg/provider/remote/commandController.go, Update); unchanged inputs: nothing runs.
- `command:remote:CopyToRemote`: SFTP, parent folders made as needed (copyController.go
  since v1.2.1, "create parent directories as needed", #1161). A change of `triggers`
  replaces it (copy.go, replaceOnChanges); otherwise Update copies only when the source's
  hash or the remote path changed (copyController.go: `needCopy := news.hash() !=
  olds.hash() || news.RemotePath != olds.RemotePath`), never for a new connection alone.
- The connection pins `hostKey` (connection.go: `ssh.FixedHostKey`) and dials up to
  `dialErrorLimit` times (connection.go, getDialErrorLimit).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import posixpath
import stat
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import paramiko

COMMAND = "command:remote:Command"
COPY_TO_REMOTE = "command:remote:CopyToRemote"
DIAL_PAUSE_S = 1.0
# pulumi-command's default when the program sets none (connection.go, dialErrorDefault).
DIAL_ERROR_DEFAULT = 10
# A bounded wait for any one step: the deploy's own timeouts are shorter.
STEP_TIMEOUT_S = 900


class StepError(RuntimeError):
    """A remote step exited non-zero or could not run; the message holds its output."""


class Action(Enum):
    CREATE = "create"
    REPLACE = "replace"
    UPDATE = "update"
    SAME = "same"


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    user: str
    private_key: str
    host_key: str | None
    dial_error_limit: int

    @classmethod
    def from_inputs(cls, inputs: dict[str, Any]) -> Connection:
        return cls(
            host=inputs["host"],
            port=int(inputs.get("port") or 22),
            user=inputs.get("user") or "root",
            private_key=inputs["privateKey"],
            host_key=inputs.get("hostKey"),
            dial_error_limit=int(inputs.get("dialErrorLimit") or DIAL_ERROR_DEFAULT),
        )


def _client(connection: Connection) -> paramiko.SSHClient:
    """An SSH client that accepts the pinned host key only (no key at all: refuse)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if connection.host_key:
        key_type, key_data = connection.host_key.split()[:2]
        key = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
        client.get_host_keys().add(connection.host, key_type, key)
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(connection.private_key))
    last_error: Exception | None = None
    for _ in range(max(connection.dial_error_limit, 1)):
        try:
            client.connect(
                connection.host,
                port=connection.port,
                username=connection.user,
                pkey=key,
                allow_agent=False,
                look_for_keys=False,
                timeout=15,
            )
            return client
        except paramiko.BadHostKeyException as error:
            raise StepError(f"{connection.host}: host key mismatch: {error}") from error
        except (OSError, paramiko.SSHException) as error:
            last_error = error
            time.sleep(DIAL_PAUSE_S)
    raise StepError(f"ssh {connection.user}@{connection.host}: {last_error}")


@dataclass(frozen=True)
class CommandResult:
    stdout: str
    stderr: str


def run_command(
    connection: Connection,
    command: str,
    stdin: str | None = None,
    environment: dict[str, str] | None = None,
) -> CommandResult:
    """One SSH session: the command, its environment (Setenv, as pulumi-command sends it)
    and its stdin; StepError with both outputs on a non-zero exit."""
    client = _client(connection)
    try:
        channel = client.get_transport().open_session()  # type: ignore[union-attr]
        channel.settimeout(STEP_TIMEOUT_S)
        if environment:
            channel.update_environment(environment)
        channel.exec_command(command)
        if stdin:
            channel.sendall(stdin.encode())
        channel.shutdown_write()
        stdout, stderr = channel.makefile("rb").read(), channel.makefile_stderr("rb").read()
        status = channel.recv_exit_status()
    finally:
        client.close()
    result = CommandResult(stdout.decode(errors="replace"), stderr.decode(errors="replace"))
    if status != 0:
        raise StepError(
            f"exit {status}\n--- stdout\n{result.stdout[-4000:]}"
            f"\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def copy_file(connection: Connection, source: Path, remote_path: str) -> None:
    """SFTP put, parent folders made first (mkdir -p) as pulumi-command 1.2.1 does."""
    client = _client(connection)
    try:
        sftp = client.open_sftp()
        parent, made = posixpath.dirname(remote_path), []
        while parent not in ("", "/"):
            try:
                sftp.stat(parent)
                break
            except FileNotFoundError:
                made.append(parent)
                parent = posixpath.dirname(parent)
        for folder in reversed(made):
            _mkdir(sftp, folder)
        sftp.put(str(source), remote_path)
    except OSError as error:
        raise StepError(f"copy {source} to {connection.host}:{remote_path}: {error}") from error
    finally:
        client.close()


def _mkdir(sftp: paramiko.SFTPClient, folder: str) -> None:
    """A folder another step made meanwhile is fine, as in pkg/sftp's MkdirAll (which
    pulumi-command calls): it stats the path again when Mkdir fails."""
    try:
        sftp.mkdir(folder)
    except OSError:
        if not stat.S_ISDIR(sftp.stat(folder).st_mode or 0):
            raise


def fingerprint(value: Any) -> str:
    """A digest of inputs, so the rehearsal's state holds no secret in plain."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class StepRecord:
    """What the rehearsal keeps of a step between `up`s (digests only) and for destroy."""

    type: str
    inputs: str
    triggers: str
    copied: str
    delete: str | None
    connection: Connection


def record(type_token: str, inputs: dict[str, Any]) -> StepRecord:
    source = inputs.get("source")
    copied = (
        fingerprint([Path(source.path).read_bytes().hex(), inputs.get("remotePath")])
        if source is not None
        else ""
    )
    return StepRecord(
        type=type_token,
        inputs=fingerprint(
            {key: value for key, value in inputs.items() if key != "source"} | {"copied": copied}
        ),
        triggers=fingerprint(inputs.get("triggers")),
        copied=copied,
        delete=inputs.get("delete"),
        connection=Connection.from_inputs(inputs["connection"]),
    )


def decide(previous: StepRecord | None, current: StepRecord) -> Action:
    """What pulumi-command does with this step on this `up` (see the module docstring)."""
    if previous is None:
        return Action.CREATE
    if previous.triggers != current.triggers:
        return Action.REPLACE
    if previous.inputs == current.inputs:
        return Action.SAME
    if current.type == COPY_TO_REMOTE and previous.copied == current.copied:
        return Action.SAME
    return Action.UPDATE
