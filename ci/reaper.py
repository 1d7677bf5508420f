"""Destroy review stacks that nobody will stop: their branch is gone, or they are too old.

A missed or failed stop job must never leave a droplet running, so a scheduled job runs
`python -m ci.reaper`. Branches come from `git ls-remote --heads` on the job's own clone
remote: that works with the CI job token GitLab already put in the clone URL, while the
branches API would need one more long-lived access token stored as a CI/CD variable.
Only `test-<slug>` stacks are ever candidates: `prod` and `test` are never touched. The
source branch of an open merge request counts as a live branch, whichever project it
comes from (ci.open_merge_requests).

A stack whose update has been "in progress" for longer than any job may run (a killed job
left it so) is reported, whichever stack it is, and fails the job, so someone runs its
`recover_*` job (ci/stack_recovery.py): skipping it quietly would keep it for ever.
"""

import argparse
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from pulumi import automation as auto

from ci import (
    ephemeral_sweep,
    open_merge_requests,
    pulumi_automation,
    pulumi_cli,
    reap_pipeline,
    stack_credentials,
)
from infra import stack_name


@dataclass(frozen=True)
class Stack:
    name: str
    last_update: datetime | None
    update_in_progress: bool


@dataclass(frozen=True)
class Doomed:
    stack: str
    reason: str


# A test-* stack not updated for this long is reaped even though its branch lives: twice the
# life of a test or review environment (`auto_stop_in` in .gitlab-ci.yml), so only a stack
# whose environment failed to stop itself is ever this old. The one home of this number:
# the scheduled job and docs/gitlab.md use this default.
MAX_AGE_HOURS = 48

# Longer than the longest Pulumi job may run (.gitlab-ci.yml: deploy_prod's 50 minutes):
# an update "in progress" for longer than this belongs to a job that is gone.
STALE_AFTER = timedelta(hours=2)


def _utc(time: datetime | None) -> datetime | None:
    """The Automation API parses Pulumi's UTC times (2026-11-24T10:00:00.000Z) into naive
    datetimes (automation/_stack.py, _DATETIME_FORMAT)."""
    return time.replace(tzinfo=UTC) if time is not None else None


def stacks_of(summaries: Iterable[auto.StackSummary]) -> list[Stack]:
    """The reaper's view of `LocalWorkspace.list_stacks()`."""
    return [
        Stack(summary.name, _utc(summary.last_update), bool(summary.update_in_progress))
        for summary in summaries
    ]


def parse_heads(ls_remote_output: str) -> set[str]:
    prefix = "refs/heads/"
    refs = (line.split("\t", 1)[-1] for line in ls_remote_output.splitlines() if line)
    return {ref.removeprefix(prefix) for ref in refs if ref.startswith(prefix)}


def _is_review(name: str) -> bool:
    try:
        return stack_name.is_review(name)
    except ValueError:
        return False


def in_progress_since(updates: Sequence[auto.UpdateSummary]) -> datetime | None:
    """When the update in progress started, from the stack's history (newest first;
    `result` "in-progress" until it ends: pulumi/pulumi pkg/cmd/pulumi/stack/
    stack_history.go, updateInfoJSON). `stack ls` cannot say: while an update runs it prints
    `updateInProgress` and no `lastUpdate` (stack_ls.go, formatStackSummariesJSON)."""
    if not updates or updates[0].result != "in-progress":
        return None
    return _utc(updates[0].start_time)


def stale(started: Mapping[str, datetime], now: datetime) -> list[Doomed]:
    """Stacks whose update has been in progress for longer than STALE_AFTER."""
    found = []
    for name, since in started.items():
        if now - since > STALE_AFTER:
            hours = (now - since) // timedelta(hours=1)
            found.append(Doomed(name, f"an update has been in progress for {hours} hours"))
    return found


def report_stale(stacks: Iterable[Stack], workspace: auto.LocalWorkspace, now: datetime) -> bool:
    """Print each stale stack, of any kind, with its fix; True when there was one (or when
    the history of a stack in progress could not be read)."""
    started = {}
    unreadable = False
    for stack in stacks:
        if not stack.update_in_progress:
            continue
        try:
            newest = auto.Stack.select(stack.name, workspace).history(
                page_size=1, show_secrets=False
            )
            since = in_progress_since(newest)
        except auto.CommandError as error:
            print(f"reaper: no history of {stack.name}:{error}", file=sys.stderr)
            unreadable = True
            continue
        if since is not None:
            started[stack.name] = since
    found = stale(started, now)
    for victim in found:
        print(
            f"reaper: STALE {victim.stack}: {victim.reason}, so a killed job left it locked. "
            f"Run its recover job (recover_prod, recover_test, recover_review) or "
            f"`python -m ci.stack_recovery --stack {victim.stack}`",
            file=sys.stderr,
        )
    return bool(found) or unreadable


def select(
    stacks: Iterable[Stack], branches: Iterable[str], now: datetime, max_age: timedelta
) -> list[Doomed]:
    """Review stacks to destroy; a stack in the middle of an update is left for next time
    (and reported when it has been so for too long: report_stale)."""
    live = {stack_name.stack_for_branch(b) for b in branches if stack_name.ref_slug(b)}
    doomed = []
    for stack in stacks:
        if not _is_review(stack.name) or stack.update_in_progress:
            continue
        bare = stack_name.bare_name(stack.name)
        if bare not in live:
            doomed.append(Doomed(stack.name, "its branch no longer exists"))
        elif stack.last_update is not None and now - stack.last_update > max_age:
            age_hours = (now - stack.last_update) // timedelta(hours=1)
            doomed.append(Doomed(stack.name, f"last updated {age_hours} hours ago"))
    return doomed


def _output(args: Sequence[str], env: Mapping[str, str]) -> str:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout


def reap(doomed: Iterable[Doomed], environ: Mapping[str, str]) -> list[str]:
    """Destroy then forget each stack, going on after a failure; return the ones that failed."""
    failed = []
    for victim in doomed:
        print(f"reaping {victim.stack}: {victim.reason}", flush=True)
        try:
            pulumi_cli.run("destroy", victim.stack, environ)
            pulumi_cli.run("stack-rm", victim.stack, environ)
        except (pulumi_cli.RefusedError, auto.CommandError) as error:
            print(
                f"reaper: could not reap {victim.stack}: {error} (locked by a killed job? "
                f"`python -m ci.stack_recovery --stack {victim.stack}` unlocks it)",
                file=sys.stderr,
            )
            failed.append(victim.stack)
    return failed


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.reaper", description=__doc__)
    parser.add_argument("--remote", default="origin", help="git remote whose branches count")
    parser.add_argument(
        "--max-age-hours",
        type=int,
        default=MAX_AGE_HOURS,
        help="reap test-* stacks last updated longer ago than this (default: %(default)s)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list, destroy nothing")
    parser.add_argument(
        "--sweep-ephemeral",
        action="store_true",
        help="also list droplets tagged ephemeral that belong to no stack (ci.ephemeral_sweep)",
    )
    parser.add_argument(
        "--delete-orphans", action="store_true", help="delete what --sweep-ephemeral lists"
    )
    parser.add_argument(
        "--child-pipeline",
        type=Path,
        help="destroy nothing here: write a child pipeline that reaps each stack in its "
        "resource group (ci.reap_pipeline)",
    )
    parser.add_argument("--api-url", default=ephemeral_sweep.API_URL, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def sweep_ephemeral(
    args: argparse.Namespace, stacks: Iterable[Stack], environ: Mapping[str, str]
) -> bool:
    """Run the sweep (over the test team: the test side's token); True when it could not run."""
    env = pulumi_cli.pulumi_environment(environ, stack_name.TEST_STACK)
    token = env.get("DIGITALOCEAN_TOKEN")
    if not token:
        variable = stack_credentials.side_variable("DIGITALOCEAN_TOKEN", stack_name.TEST_STACK)
        print(f"reaper: --sweep-ephemeral needs {variable}", file=sys.stderr)
        return True
    names = {stack_name.bare_name(stack.name) for stack in stacks}
    api = ephemeral_sweep.DigitalOceanApi(token, args.api_url)
    try:
        ephemeral_sweep.sweep(api, names, env, delete=args.delete_orphans and not args.dry_run)
    except (requests.RequestException, subprocess.CalledProcessError) as error:
        print(f"reaper: the ephemeral sweep failed: {error}", file=sys.stderr)
        return True
    return False


def live_branches(branches: set[str], environ: Mapping[str, str]) -> set[str] | None:
    """The remote's branches and the open merge requests' source branches; None (said why)
    when either list is missing: reaping without it could destroy a live review app."""
    if not branches:
        # An empty answer means a broken remote, not a repository without branches.
        print("reaper: the remote lists no branches; reaping nothing", file=sys.stderr)
        return None
    try:
        requested = open_merge_requests.open_branches(environ)
    except requests.RequestException as error:
        print(f"reaper: no list of open merge requests ({error}); reaping nothing", file=sys.stderr)
        return None
    if requested is None:
        print(
            f"reaper: no {open_merge_requests.READ_API_VARIABLE}: stacks of merge requests "
            "from forks count as abandoned (docs/gitlab.md)"
        )
    return branches | (requested or set())


def act_on(doomed: list[Doomed], args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    """List, hand over to the child pipeline, or reap; True when a reap failed."""
    if args.dry_run:
        for victim in doomed:
            print(f"would reap {victim.stack}: {victim.reason}")
    elif args.child_pipeline:
        reap_pipeline.write([victim.stack for victim in doomed], args.child_pipeline)
        for victim in doomed:
            print(f"reaper: {victim.stack} goes to {args.child_pipeline}: {victim.reason}")
    elif doomed:
        return bool(reap(doomed, environ))
    if not doomed:
        print("reaper: no review stack to reap")
    return False


def main(argv: Sequence[str], environ: Mapping[str, str], now: datetime) -> int:
    args = parse_args(argv)
    try:
        # Test stacks only: the test side's state backend and credentials.
        env = pulumi_cli.pulumi_environment(environ, stack_name.TEST_STACK)
        heads = parse_heads(_output(["git", "ls-remote", "--heads", args.remote], env))
        workspace = pulumi_automation.workspace(env)
        stacks = stacks_of(workspace.list_stacks())
    except subprocess.CalledProcessError as error:
        print(f"reaper: {' '.join(error.cmd)} failed: {error.stderr.strip()}", file=sys.stderr)
        return 1
    except auto.CommandError as error:
        print(f"reaper: pulumi failed:{error}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:
        print(f"reaper: {error.filename} is not on PATH", file=sys.stderr)
        return 1
    except pulumi_cli.RefusedError as error:
        print(f"reaper: refused: {error}", file=sys.stderr)
        return 3
    branches = live_branches(heads, environ)
    if branches is None:
        return 1
    needs_attention = report_stale(stacks, workspace, now)
    if args.sweep_ephemeral and sweep_ephemeral(args, stacks, environ):
        needs_attention = True
    doomed = select(stacks, branches, now, timedelta(hours=args.max_age_hours))
    failed = act_on(doomed, args, environ)
    return 1 if failed or needs_attention else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ, datetime.now(UTC)))
