"""Destroy review stacks that nobody will stop: their branch is gone, or they are too old.

A missed or failed stop job must never leave a droplet running, so a scheduled job runs
`python -m ci.reaper`. Branches come from `git ls-remote --heads` on the job's own clone
remote: that works with the CI job token GitLab already put in the clone URL, while the
branches API would need one more long-lived access token stored as a CI/CD variable.
Only `test-<slug>` stacks are ever candidates: `prod` and `test` are never touched.
"""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ci import pulumi_cli
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


def parse_stacks(stack_ls_json: str) -> list[Stack]:
    """Parse `pulumi stack ls --json` (lastUpdate is UTC like 2026-11-24T10:00:00.000Z)."""
    return [
        Stack(
            name=entry["name"],
            last_update=datetime.fromisoformat(entry["lastUpdate"])
            if entry.get("lastUpdate")
            else None,
            update_in_progress=bool(entry.get("updateInProgress", False)),
        )
        for entry in json.loads(stack_ls_json)
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


def select(
    stacks: Iterable[Stack], branches: Iterable[str], now: datetime, max_age: timedelta
) -> list[Doomed]:
    """Review stacks to destroy; a stack in the middle of an update is left for next time."""
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
        except (pulumi_cli.RefusedError, subprocess.CalledProcessError) as error:
            print(f"reaper: could not reap {victim.stack}: {error}", file=sys.stderr)
            failed.append(victim.stack)
    return failed


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.reaper", description=__doc__)
    parser.add_argument("--remote", default="origin", help="git remote whose branches count")
    parser.add_argument("--max-age-hours", type=int, default=48)
    parser.add_argument("--dry-run", action="store_true", help="list, destroy nothing")
    return parser.parse_args(argv)


def main(argv: Sequence[str], environ: Mapping[str, str], now: datetime) -> int:
    args = parse_args(argv)
    env = pulumi_cli.pulumi_environment(environ)
    try:
        branches = parse_heads(_output(["git", "ls-remote", "--heads", args.remote], env))
        stacks = parse_stacks(_output(["pulumi", "stack", "ls", "--json"], env))
    except subprocess.CalledProcessError as error:
        print(f"reaper: {' '.join(error.cmd)} failed: {error.stderr.strip()}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:
        print(f"reaper: {error.filename} is not on PATH", file=sys.stderr)
        return 1
    if not branches:
        # An empty answer means a broken remote, not a repository without branches.
        print(f"reaper: {args.remote!r} lists no branches; reaping nothing", file=sys.stderr)
        return 1
    doomed = select(stacks, branches, now, timedelta(hours=args.max_age_hours))
    if not doomed:
        print("reaper: no review stack to reap")
        return 0
    if args.dry_run:
        for victim in doomed:
            print(f"would reap {victim.stack}: {victim.reason}")
        return 0
    return 1 if reap(doomed, environ) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ, datetime.now(UTC)))
