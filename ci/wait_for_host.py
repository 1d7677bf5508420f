"""Wait until a new droplet answers SSH and cloud-init has finished, within a deadline.

    python -m ci.wait_for_host HOST [--user deploy] [--port 22] [--key-file PATH]
                               [--timeout 900] [--interval 5]

Exit 0 when cloud-init is done (recoverable errors are printed, not fatal) and its final
marker exists; exit 1 when cloud-init failed or the deadline passed, after printing what is
known: the last connection error, `cloud-init status --long` and the end of its log.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ci.ssh import SshError, SshTarget, run, session
from infra.cloud_init import READY_MARKER

CLOUD_INIT_LOG = "/var/log/cloud-init-output.log"
_STATUS = re.compile(r"^status:\s*(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class WaitOptions:
    timeout: float = 900.0
    interval: float = 5.0
    ready_marker: str = READY_MARKER
    cloud_init_log: str = CLOUD_INIT_LOG


class HostNotReadyError(RuntimeError):
    """cloud-init failed, or the host was not ready before the deadline."""


def _diagnostics(target: SshTarget, options: WaitOptions) -> str:
    """Best effort: what cloud-init says about itself, and the end of its output log."""
    log = shlex.quote(options.cloud_init_log)
    try:
        with session(target) as client:
            status = run(client, "cloud-init status --long", timeout=30)
            tail = run(client, f"tail -n 50 {log}", timeout=30)
    except SshError as error:
        return f"(no diagnostics: {error})"
    return (
        f"--- cloud-init status --long\n{status.stdout}{status.stderr}"
        f"--- last 50 lines of {options.cloud_init_log}\n{tail.stdout}{tail.stderr}"
    )


def _check_once(target: SshTarget, options: WaitOptions, say: Callable[[str], None]) -> bool:
    """True when ready; False to try again; HostNotReadyError when cloud-init failed for good.

    `cloud-init status` prints running, not run (early boot), done or error; it exits 1 on
    error and, in newer releases, 2 when done with recoverable errors.
    """
    with session(target, timeout=min(10.0, options.timeout)) as client:
        result = run(client, "cloud-init status", timeout=30)
        found = _STATUS.search(result.stdout)
        status = found.group(1) if found else f"unreadable ({result.stdout}{result.stderr})"
        if status in ("running", "not"):
            say(f"cloud-init: {status}")
            return False
        if status != "done" or result.exit_status not in (0, 2):
            raise HostNotReadyError(
                f"cloud-init failed: status {status}, exit {result.exit_status}"
            )
        if result.exit_status == 2:
            say("cloud-init finished with recoverable errors (continuing)")
        marker = run(client, f"test -e {shlex.quote(options.ready_marker)}", timeout=30)
        if not marker.ok:
            raise HostNotReadyError(f"cloud-init is done but {options.ready_marker} is missing")
        return True


def wait_for_host(
    target: SshTarget, options: WaitOptions, say: Callable[[str], None] = print
) -> None:
    """Return when the host is ready; raise HostNotReadyError with diagnostics otherwise."""
    deadline = time.monotonic() + options.timeout
    last_problem = "never tried"
    while time.monotonic() < deadline:
        try:
            if _check_once(target, options, say):
                say(f"{target}: ready")
                return
            last_problem = "cloud-init still running"
        except SshError as error:
            last_problem = str(error)
            say(f"waiting for SSH: {error}")
        except HostNotReadyError as error:
            raise HostNotReadyError(f"{error}\n{_diagnostics(target, options)}") from error
        time.sleep(max(0.0, min(options.interval, deadline - time.monotonic())))
    raise HostNotReadyError(
        f"{target} not ready after {options.timeout:g}s (last: {last_problem})\n"
        f"{_diagnostics(target, options)}"
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.wait_for_host", description=__doc__)
    parser.add_argument("host")
    parser.add_argument("--user", default="deploy")
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--key-file", type=Path, help="private key (default: $CANNY_SSH_KEY_FILE)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds in all")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between tries")
    parser.add_argument("--ready-marker", default=READY_MARKER)
    parser.add_argument("--cloud-init-log", default=CLOUD_INIT_LOG)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    target = SshTarget(args.host, args.user, args.port, args.key_file)
    options = WaitOptions(args.timeout, args.interval, args.ready_marker, args.cloud_init_log)
    try:
        wait_for_host(target, options)
    except HostNotReadyError as error:
        print(f"wait_for_host: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
