"""`python -m infra.rehearse --stack prod|test|test-<slug>`: a first `pulumi up` of the stack,
rehearsed on this machine (root, Debian 12), then the pipeline's smoke test through its entry
point. Prints each step as it runs; ends with the URL and the smoke test's verdict.
Everything it made is removed when it ends (after Enter, with --hold).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from types import FrameType

from infra.rehearse.environment import Environment
from infra.rehearse.remote_steps import StepError
from infra.rehearse.smoke import run_smoke
from infra.stack_file import StackFileError

_print_lock = threading.Lock()
_started = time.monotonic()


def print_step(line: str) -> None:
    """One line per event, whole even when steps finish at once on several threads."""
    with _print_lock:
        sys.stdout.write(f"[{time.monotonic() - _started:6.1f}s] {line}\n")
        sys.stdout.flush()


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.rehearse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stack", required=True, help="prod, test or test-<slug>")
    parser.add_argument("--tag", default="rehearsal-1", help="image tag to build and deploy")
    parser.add_argument("--hold", action="store_true", help="keep it all running until Enter")
    return parser.parse_args(argv)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds, so everything made is removed


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if os.geteuid() != 0:
        print("the rehearsal makes network namespaces and runs dockerd: run it as root")
        return 2
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # A dial the droplet's sshd turned away (MaxStartups) is retried; paramiko's own report
    # of it is noise here.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    try:
        with Environment(args.stack, log=print_step) as env:
            env.publish(args.tag)
            print_step(f"pulumi up -s {args.stack} (rehearsed)")
            try:
                result = env.rehearsal.up(args.tag)
            except StepError as error:
                # Said before the clean-up, which takes a while (dockerd stops containers).
                print_step(f"rehearsal FAILED: {error}")
                return 1
            print_step(f"up done: {len(result.ran())} remote steps ran")
            if env.balancer is not None:
                url, certificate = env.balancer.url, env.balancer.certificate
            else:
                url, certificate = f"http://{env.rehearsal.droplets[0].address}", None
            smoke = run_smoke(url, certificate)
            print(smoke.stdout + smoke.stderr)
            print_step(f"URL: {url}" + (f" (certificate {certificate})" if certificate else ""))
            print_step(
                "smoke test (ci/smoke.py): " + ("passed" if smoke.returncode == 0 else "FAILED")
            )
            if args.hold:
                input("running; press Enter to remove it all ")
            return smoke.returncode
    except (StepError, StackFileError, RuntimeError) as error:
        print_step(f"rehearsal FAILED: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
