"""Pulumi.yaml, the stack files and the policy pack's project file, as the CLI reads them."""

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from infra.offline import REPO_ROOT
from infra.policy.rules import POLICIES

SECRET_KEYS = {
    "digitalocean:token",
    "canny:sshPrivateKey",
    "canny:runnerToken",
    "canny:registryUser",
    "canny:registryPassword",
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_project_file_points_at_the_program_and_the_venv():
    project = load(REPO_ROOT / "Pulumi.yaml")
    assert project["name"] == "canny" and project["runtime"]["name"] == "python"
    assert (REPO_ROOT / project["main"] / "__main__.py").is_file()
    assert project["runtime"]["options"]["virtualenv"] == ".venv"


@pytest.mark.parametrize("stack_file", ["Pulumi.prod.yaml", "Pulumi.test.yaml"])
def test_stack_files_hold_secrets_only_encrypted(stack_file):
    config = load(REPO_ROOT / stack_file)["config"]
    plain = {
        key for key, value in config.items() if key in SECRET_KEYS and not isinstance(value, dict)
    }
    assert not plain, f"{stack_file} holds secrets in plain text: {sorted(plain)}"


def test_policy_pack_project_uses_the_project_venv():
    policy_dir = REPO_ROOT / "infra" / "policy"
    project = load(policy_dir / "PulumiPolicy.yaml")
    assert project["runtime"]["name"] == "python"
    venv = (policy_dir / project["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (REPO_ROOT / ".venv").resolve()
    assert (policy_dir / "__main__.py").is_file()


def test_policy_names_are_unique():
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names)), names


def test_pulumi_command_floor_has_what_the_deploy_uses():
    """`host_key` needs 1.1.0 (pulumi/pulumi-command#794) and CopyToRemote creating the
    bundle's folders needs 1.2.1 (#1161): an older provider would break the first deploy."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [
        Requirement(line)
        for group in project["project"]["optional-dependencies"].values()
        for line in group
    ]
    (command,) = [item for item in requirements if item.name == "pulumi-command"]
    assert "1.2.1" in command.specifier
    assert "1.2.0" not in command.specifier, f"{command} allows a provider without them"
