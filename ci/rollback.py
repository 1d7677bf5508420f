"""Put the previous image tag back on a deployed host: `python -m ci.rollback --host IP`.

The last resort when a prod release failed and its `pulumi up` back to the previous release
(ci/prod_release.py) failed too: a person runs this. The deploy keeps the tag it replaced
on the host, and infra/remote/rollback.sh (installed in the app folder's bin/ by the
deploy, see infra/bundle.py REMOTE_APP_DIR) swaps the tags, pulls, restarts compose and
waits for the readiness gate; this module only runs it over SSH with the deploy key
(CANNY_SSH_KEY_FILE) and turns its exit status into a readable verdict.

Exit: 0 rolled back and ready; 3 nothing to roll back to (first deploy on this host);
1 the host could not be reached or the previous tag did not become ready.
"""

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ci.ssh import SshError, SshTarget, run, session
from infra.bundle import REMOTE_APP_DIR

ROLLBACK_SCRIPT = f"{REMOTE_APP_DIR}/bin/rollback.sh"
NOTHING_TO_ROLL_BACK = 3


def rollback(target: SshTarget, script: str = ROLLBACK_SCRIPT, timeout: float = 600.0) -> int:
    """Run the host's rollback script, echo its output, and return this module's exit code."""
    try:
        with session(target) as client:
            result = run(client, f"bash {shlex.quote(script)}", timeout=timeout)
    except SshError as error:
        print(f"rollback: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.ok:
        print(f"rollback: {target.host} runs the previous image tag again and is ready")
        return 0
    if result.exit_status == NOTHING_TO_ROLL_BACK:
        print(f"rollback: {target.host} has no previous image tag to go back to", file=sys.stderr)
        return NOTHING_TO_ROLL_BACK
    print(
        f"rollback: {script} failed on {target.host} (exit {result.exit_status}); "
        "the previous tag is not ready either: look at the host now",
        file=sys.stderr,
    )
    return 1


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.rollback", description=__doc__)
    parser.add_argument("--host", required=True, help="the droplet's address (DEPLOY_IP)")
    parser.add_argument("--user", default="deploy")
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--key-file", type=Path, help="default: $CANNY_SSH_KEY_FILE")
    parser.add_argument("--script", default=ROLLBACK_SCRIPT, help="rollback script on the host")
    parser.add_argument("--timeout", type=float, default=600.0)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    target = SshTarget(args.host, args.user, args.port, args.key_file)
    return rollback(target, args.script, args.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
