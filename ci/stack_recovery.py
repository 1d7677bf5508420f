"""Unlock a stack that a killed job left locked: `python -m ci.stack_recovery --stack NAME`.

A job killed in the middle of `pulumi up` or `destroy` (its timeout, a cancel, a lost runner)
never releases the stack: Pulumi Cloud keeps the update "in progress", and a self-managed
backend keeps the lock file, whose error says "delete the lock file with `pulumi cancel`"
(pulumi/pulumi pkg/backend/diy/lock.go, checkForLock). Every later job fails on that lock.
The stack's manual `recover_*` job runs this, which does two things, in this order:

1. `pulumi cancel --yes`: ends the update that is recorded as running, or deletes the
   self-managed lock (https://www.pulumi.com/docs/iac/cli/commands/pulumi_cancel/). The job
   holds the stack's resource group, so no update of this pipeline's kind is running.
2. `pulumi refresh --clear-pending-creates --yes`: a create the killed update had started
   is a "pending operation" in the state, and every later update refuses to run until it is
   resolved; refresh reads each resource back from DigitalOcean and drops those pending
   creates (https://www.pulumi.com/docs/iac/cli/commands/pulumi_refresh/). A resource that
   was half-created in the cloud is then outside the state: the log says so, and the
   reaper's ephemeral sweep or a person removes it.

Exit: 0 recovered; 1 a pulumi command failed; 3 refused (a bad stack name or a missing prod).
"""

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from pulumi import automation as auto

from ci import pulumi_automation, pulumi_cli
from infra import stack_name


def recover(stack: str, environ: Mapping[str, str]) -> None:
    """Raise RefusedError before anything runs, auto.CommandError when pulumi fails.
    No stack is created: a missing stack has nothing to unlock."""
    name = pulumi_cli.check_allowed("recover", stack, environ)
    pulumi_cli.check_protected_ref(name, environ)
    workspace = pulumi_automation.workspace(pulumi_cli.pulumi_environment(environ, name))
    if name not in pulumi_cli.existing_stacks(workspace):
        raise pulumi_cli.RefusedError(
            f"stack {name} does not exist in the backend {pulumi_cli.backend_url(workspace)}: "
            "nothing to recover"
        )
    locked = auto.Stack.select(stack, workspace)
    print(f"stack_recovery: 1/2 ending the update or lock that a killed job left on {name}")
    # `pulumi cancel --yes --stack S` (automation/interface/__init__.py, API.cancel).
    locked.cancel()
    print(f"stack_recovery: 2/2 reading {name}'s resources back, dropping interrupted creates")
    locked.refresh(
        clear_pending_creates=True,
        color="never",
        show_secrets=False,
        config_file=stack_name.config_file(stack),
        on_output=pulumi_automation.to_log,
        on_error=pulumi_automation.to_error_log,
    )
    print(
        f"stack_recovery: {name} is unlocked and its state matches DigitalOcean again. "
        "Re-run the job that was killed. A droplet or bucket that job had begun to create is "
        "not in the state any more: `python -m ci.reaper --sweep-ephemeral` lists it."
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.stack_recovery", description=__doc__)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("-s", "--stack", help="prod, test or test-<branch slug>")
    target.add_argument("--branch", help="the git branch whose stack to recover")
    return parser.parse_args(argv)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = parse_args(argv)
    try:
        recover(args.stack or stack_name.stack_for_branch(args.branch), environ)
    except (pulumi_cli.RefusedError, ValueError) as error:
        print(f"stack_recovery: refused: {error}", file=sys.stderr)
        return 3
    except auto.CommandError as error:
        print(
            f"stack_recovery: pulumi failed; the stack may still be locked:{error}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
