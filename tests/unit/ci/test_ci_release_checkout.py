"""ci.release_checkout in a real git repository."""

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ci import release_checkout


@pytest.fixture
def clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, require_tool: Callable[[str], str]
) -> tuple[str, str]:
    """A repository with two commits, as the working directory; returns (git, first SHA)."""
    git = require_tool("git")
    identity = ["-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    for release in ("first", "second"):
        Path("Pulumi.prod.yaml").write_text(f"release: {release}\n")
        subprocess.run([git, "add", "Pulumi.prod.yaml"], check=True)
        subprocess.run([git, *identity, "commit", "-q", "-m", release], check=True)
        if release == "first":
            first = subprocess.run(
                [git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
    return git, first


def test_a_tested_tag_checks_out_its_commit_with_this_job_s_venv(clone: tuple[str, str]) -> None:
    _, first = clone
    directory = release_checkout.checkout(f"tested-{first}")
    assert (directory / "Pulumi.prod.yaml").read_text() == "release: first\n"
    assert (directory / ".venv").is_symlink()
    assert release_checkout.environment(directory, {"PYTHONPATH": "/x"})["PYTHONPATH"] == (
        f"{directory}:/x"
    )


def test_a_cleaned_checkout_folder_is_checked_out_again(clone: tuple[str, str]) -> None:
    """A reused runner clone loses the folder (git clean -ffdx) but keeps git's record."""
    _, first = clone
    directory = release_checkout.checkout(first)
    subprocess.run(["rm", "-rf", str(directory)], check=True)
    assert release_checkout.checkout(first) == directory
    assert (directory / "Pulumi.prod.yaml").read_text() == "release: first\n"


@pytest.mark.parametrize("tag", ["good-1", "tested-", "tested-" + "z" * 40])
def test_a_tag_that_names_no_commit_is_refused(clone: tuple[str, str], tag: str) -> None:
    with pytest.raises(release_checkout.CheckoutError, match="names no commit"):
        release_checkout.checkout(tag)
