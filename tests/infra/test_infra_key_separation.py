"""infra/key_separation.py: prod and the test stacks refuse each other's SSH key."""

from pathlib import Path

import pytest

from infra.config import ConfigError
from infra.key_separation import (
    DeployKey,
    committed_key,
    counterpart_file,
    key_separation_problem,
    shared_key_problem,
)
from infra.stack_file import REPO_ROOT
from tests.infra.test_infra_config import settings_for

# Two different ed25519 public keys (only their fingerprints matter here).
KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKL5PnDBuieEo1MpHlJzXFXmsXUdnDI1klYFfuDsYebx a"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFaRcKGo3lyCLsCBCLbn0s6swXAI5VK0cT7Uuo0WvKdl b"


def test_the_committed_stack_files_name_different_keys() -> None:
    prod = committed_key(REPO_ROOT / "Pulumi.prod.yaml")
    test = committed_key(REPO_ROOT / "Pulumi.test.yaml")
    assert prod is not None and test is not None
    assert prod.name and test.name and prod.name != test.name, (prod, test)


@pytest.mark.parametrize(
    ("stack", "other_file"),
    [("prod", "Pulumi.test.yaml"), ("test", "Pulumi.prod.yaml"), ("test-x", "Pulumi.prod.yaml")],
)
def test_each_side_compares_with_the_other_sides_file(stack: str, other_file: str) -> None:
    assert counterpart_file(stack) == REPO_ROOT / other_file


@pytest.mark.parametrize(
    ("stack", "key_of_the_other_side"),
    [("prod", "canny-deploy-test"), ("test", "canny-deploy-prod"), ("test-x", "canny-deploy-prod")],
)
def test_the_program_refuses_the_other_sides_key_by_name(
    stack: str, key_of_the_other_side: str
) -> None:
    with pytest.raises(ConfigError, match="need their own key pairs"):
        settings_for(stack, sshKeyName=key_of_the_other_side)


def test_the_program_accepts_a_key_of_its_own() -> None:
    assert settings_for("prod", sshKeyName="canny-deploy-prod").host.ssh_key_name


def test_an_uploaded_key_is_compared_by_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.test.yaml").write_text(f"config:\n  canny:sshPublicKey: {KEY_A}\n")
    same = key_separation_problem(
        "prod", {"sshPublicKey": KEY_A.replace(" a", " renamed")}, tmp_path
    )
    assert same is not None and "fingerprint" in same
    assert key_separation_problem("prod", {"sshPublicKey": KEY_B}, tmp_path) is None


def test_nothing_to_compare_without_the_other_file(tmp_path: Path) -> None:
    assert key_separation_problem("prod", {"sshKeyName": "canny-deploy"}, tmp_path) is None


def test_the_message_names_whose_key_it_is() -> None:
    shared = DeployKey(name="canny-deploy", fingerprint=None)
    assert "the test stacks'" in str(shared_key_problem("prod", shared, shared))
    assert "prod's" in str(shared_key_problem("test-x", shared, shared))
