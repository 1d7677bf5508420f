"""infra/key_separation.py: prod and the test stacks refuse each other's SSH key."""

from pathlib import Path

import pytest

from infra.config import ConfigError
from infra.key_separation import (
    committed_key_name,
    counterpart_file,
    key_separation_problem,
    shared_key_problem,
)
from infra.stack_file import REPO_ROOT
from tests.infra.stack_settings import settings_for


def test_the_committed_stack_files_name_different_keys() -> None:
    prod = committed_key_name(REPO_ROOT / "Pulumi.prod.yaml")
    test = committed_key_name(REPO_ROOT / "Pulumi.test.yaml")
    assert prod and test and prod != test, (prod, test)


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
def test_the_program_refuses_the_other_sides_key(stack: str, key_of_the_other_side: str) -> None:
    with pytest.raises(ConfigError, match="need their own key pairs"):
        settings_for(stack, sshKeyName=key_of_the_other_side)


def test_the_program_accepts_a_key_of_its_own() -> None:
    assert settings_for("prod", sshKeyName="canny-deploy-prod").host.ssh_key_name


def test_a_file_elsewhere_is_compared_too(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.test.yaml").write_text("config:\n  canny:sshKeyName: shared\n")
    assert key_separation_problem("prod", {"sshKeyName": "shared"}, tmp_path)
    assert key_separation_problem("prod", {"sshKeyName": "prods-own"}, tmp_path) is None


def test_nothing_to_compare_without_the_other_file(tmp_path: Path) -> None:
    assert key_separation_problem("prod", {"sshKeyName": "canny-deploy"}, tmp_path) is None


def test_the_message_names_whose_key_it_is() -> None:
    assert "the test stacks'" in str(shared_key_problem("prod", "k", "k"))
    assert "prod's" in str(shared_key_problem("test-x", "k", "k"))
