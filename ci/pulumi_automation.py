"""Pulumi's Automation API (`pulumi.automation`) run with exactly the environment CI chose.

The Automation API runs the `pulumi` CLI found on PATH as a subprocess and reads its machine
output, so the wrapper builds no command lines and parses no `--json` itself. One thing it
does that CI must not: `PulumiCommand.run` starts every call from the whole process
environment (sdk/python/lib/pulumi/automation/_cmd.py, `env = {**os.environ,
**additional_env, ...}`), which would hand Pulumi the PULUMI_STACK and the other side's
credentials that ci.pulumi_cli dropped. `ScopedCommand` gives each call the wrapper's
environment alone.
"""

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pulumi import automation as auto


@contextmanager
def _only(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ is `env` alone while the block runs, then what it was."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class ScopedCommand(auto.PulumiCommand):
    """The `pulumi` on `env`'s PATH, started with `env` and nothing else."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        with _only(self.env):
            # Runs `pulumi version` and checks it against the SDK's minimum (_cmd.py).
            super().__init__()

    def run(self, args: list[str], *run_args: Any, **run_kwargs: Any) -> auto.CommandResult:
        with _only(self.env):
            return super().run(args, *run_args, **run_kwargs)


def workspace(env: Mapping[str, str]) -> auto.LocalWorkspace:
    """The project in the current folder (the job's checkout, or a release's after
    ci.release_checkout), its `pulumi` calls made with `env`."""
    return auto.LocalWorkspace(work_dir=os.getcwd(), pulumi_command=ScopedCommand(env))


def to_log(line: str) -> None:
    """Pulumi's progress, as it comes, into the job log."""
    print(line, flush=True)


def to_error_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
