"""Prod and the test stacks never log in with the same SSH key pair.

The deploy user is in the docker group (root on the droplet), and every review job on every
branch holds the test stacks' private key: if prod accepted that key, only prod's firewall
would stand between any branch and prod. So a stack refuses config whose canny:sshKeyName
is the other side's, as the other side's committed stack file names it.

This is a config check, not a policy rule: the key is looked up by name with an invoke
(`get_ssh_key` in infra/host.py), which a policy pack never sees (a policy receives
resources' type, name and properties: https://www.pulumi.com/docs/discovery-governance/
concepts/policy-as-code/policies/), and the droplet's `sshKeys` hold account-local ids that
differ between the two DigitalOcean teams even for the same key. Only the two committed
stack files name the keys comparably.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.stack_file import REPO_ROOT, StackFileError, read_stack_config
from infra.stack_name import PROD_STACK, TEST_STACK, stack_file

KEY_NAME = "sshKeyName"


def counterpart_file(stack: str, root: Path = REPO_ROOT) -> Path:
    """The other side's stack file: prod's for a test stack, the test stacks' for prod."""
    return root / stack_file(TEST_STACK if stack == PROD_STACK else PROD_STACK)


def committed_key_name(path: Path) -> str | None:
    """The deploy key a stack file names, or None when there is no such file or name."""
    try:
        name = read_stack_config(path).values.get(f"canny:{KEY_NAME}")
    except StackFileError:
        return None
    return name if isinstance(name, str) and name else None


def shared_key_problem(stack: str, own: str | None, other: str | None) -> str | None:
    """Why this stack's key is the other side's, or None when they are apart."""
    if own is None or own != other:
        return None
    side = "the test stacks'" if stack == PROD_STACK else "prod's"
    return (
        f"canny:{KEY_NAME}: {own!r} is {side} SSH key too; prod and the test stacks need "
        "their own key pairs (docs/security.md)"
    )


def key_separation_problem(
    stack: str, raw: Mapping[str, Any], root: Path = REPO_ROOT
) -> str | None:
    """The check infra/config.py runs: this stack's config against the committed other side."""
    own = raw.get(KEY_NAME)
    return shared_key_problem(
        stack,
        own if isinstance(own, str) and own else None,
        committed_key_name(counterpart_file(stack, root)),
    )
