"""One SSH connection to a droplet, and commands run over it (paramiko).

Used by ci/rollback.py. Authentication is by key only. Without a known_hosts file the first
host key seen is accepted (like `ssh -o StrictHostKeyChecking=accept-new`); pass
`known_hosts` to pin it instead (the stack output `sshHostKey` is the droplet's key).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko

# CI passes the deploy key as a GitLab "File" variable: the variable holds the file's path.
KEY_FILE_ENV = "CANNY_SSH_KEY_FILE"


class SshError(RuntimeError):
    """The host could not be reached, refused the key, or a command could not be run."""


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str = "deploy"
    port: int = 22
    key_file: Path | None = None
    known_hosts: Path | None = None

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def key_file_from_env() -> Path | None:
    value = os.environ.get(KEY_FILE_ENV)
    return Path(value) if value else None


def connect(target: SshTarget, timeout: float = 10.0) -> paramiko.SSHClient:
    """Open an authenticated connection or raise SshError saying why not."""
    client = paramiko.SSHClient()
    if target.known_hosts:
        client.load_host_keys(str(target.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        # Trust on first use, on purpose: see the module docstring.
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    key_file = target.key_file or key_file_from_env()
    try:
        client.connect(
            target.host,
            port=target.port,
            username=target.user,
            key_filename=str(key_file) if key_file else None,
            allow_agent=key_file is None,
            look_for_keys=key_file is None,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except (OSError, paramiko.SSHException) as error:
        client.close()
        raise SshError(f"cannot connect to {target}: {error or type(error).__name__}") from error
    return client


@contextmanager
def session(target: SshTarget, timeout: float = 10.0) -> Iterator[paramiko.SSHClient]:
    client = connect(target, timeout)
    try:
        yield client
    finally:
        client.close()


def run(
    client: paramiko.SSHClient, command: str, stdin: str | None = None, timeout: float = 600.0
) -> CommandResult:
    """Run one command; `stdin` is how secrets travel (never on the command line)."""
    try:
        channel_in, channel_out, channel_err = client.exec_command(command, timeout=timeout)
        if stdin is not None:
            channel_in.write(stdin)
        channel_in.channel.shutdown_write()
        stdout = channel_out.read().decode("utf-8", errors="replace")
        stderr = channel_err.read().decode("utf-8", errors="replace")
        status = channel_out.channel.recv_exit_status()
    except (OSError, paramiko.SSHException) as error:
        raise SshError(f"running {command!r} failed: {error or type(error).__name__}") from error
    return CommandResult(command, status, stdout, stderr)
