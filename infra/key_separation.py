"""Prod and the test stacks never log in with the same SSH key pair.

The deploy user is in the docker group (root on the droplet), and every review job on every
branch holds the test stacks' private key: if prod accepted that key, only prod's firewall
would stand between any branch and prod. So a stack refuses config that names the other
side's key, by name (canny:sshKeyName) or by the fingerprint of an uploaded key
(canny:sshPublicKey).

This is a config check, not a policy rule: a key picked by name is looked up with an invoke
(`get_ssh_key` in infra/host.py), which a policy pack never sees (a policy receives
resources' type, name and properties: https://www.pulumi.com/docs/discovery-governance/
concepts/policy-as-code/policies/), and
the droplet's `sshKeys` hold account-local ids that differ between the two DigitalOcean
teams even for the same key. Only the two committed stack files name the keys comparably.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci.stack_name import PROD_STACK
from infra.account_key import PublicKeyError, md5_fingerprint
from infra.stack_file import REPO_ROOT, StackFileError, read_stack_config

KEY_NAME = "sshKeyName"
PUBLIC_KEY = "sshPublicKey"


@dataclass(frozen=True)
class DeployKey:
    """How one stack names its deploy key: a DigitalOcean key name and/or a public key's
    fingerprint."""

    name: str | None
    fingerprint: str | None

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> DeployKey:
        """From `canny:` values keyed without the namespace."""
        name, public_key = values.get(KEY_NAME), values.get(PUBLIC_KEY)
        try:
            fingerprint = md5_fingerprint(public_key) if isinstance(public_key, str) else None
        except PublicKeyError:
            fingerprint = None  # the config check names a malformed key on its own
        return cls(name=name if isinstance(name, str) and name else None, fingerprint=fingerprint)


def counterpart_file(stack: str, root: Path = REPO_ROOT) -> Path:
    """The other side's stack file: prod's for a test stack, the test stacks' for prod."""
    return root / ("Pulumi.test.yaml" if stack == PROD_STACK else f"Pulumi.{PROD_STACK}.yaml")


def committed_key(path: Path) -> DeployKey | None:
    """The deploy key a stack file names, or None when there is no such file to compare with."""
    try:
        config = read_stack_config(path)
    except StackFileError:
        return None
    prefix = "canny:"
    return DeployKey.from_config(
        {
            key[len(prefix) :]: value
            for key, value in config.values.items()
            if key.startswith(prefix)
        }
    )


def shared_key_problem(stack: str, own: DeployKey, other: DeployKey | None) -> str | None:
    """Why this stack's key is the other side's, or None when they are apart."""
    if other is None:
        return None
    side = "the test stacks'" if stack == PROD_STACK else "prod's"
    if own.name is not None and own.name == other.name:
        return (
            f"canny:{KEY_NAME}: {own.name!r} is {side} SSH key too; prod and the test stacks need "
            "their own key pairs (docs/security.md)"
        )
    if own.fingerprint is not None and own.fingerprint == other.fingerprint:
        return (
            f"canny:{PUBLIC_KEY}: fingerprint {own.fingerprint} is {side} key too; prod and the "
            "test stacks need their own key pairs (docs/security.md)"
        )
    return None


def key_separation_problem(
    stack: str, raw: Mapping[str, Any], root: Path = REPO_ROOT
) -> str | None:
    """The check infra/config.py runs: this stack's config against the committed other side."""
    return shared_key_problem(
        stack, DeployKey.from_config(raw), committed_key(counterpart_file(stack, root))
    )
