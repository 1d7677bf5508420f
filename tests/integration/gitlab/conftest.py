"""A throwaway git checkout of the pipeline file, as gitlab-ci-local needs one."""

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
PIPELINE = REPO_ROOT / ".gitlab-ci.yml"


@pytest.fixture
def checkout(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> Callable[[str, str | None], Path]:
    """Return make(branch, tag=None): a repository holding only .gitlab-ci.yml, on that
    branch (or detached at that tag), with an `origin` remote as GitLab's runner leaves it."""
    git = require_tool("git")

    def make(branch: str, tag: str | None = None) -> Path:
        repo = tmp_path / "repo"
        identity = ["-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]

        def run(*args: str) -> None:
            subprocess.run([git, *identity, "-C", str(repo), *args], check=True)

        subprocess.run([git, "init", "-q", "-b", branch, str(repo)], check=True)
        shutil.copy(PIPELINE, repo / ".gitlab-ci.yml")
        run("add", ".gitlab-ci.yml")
        run("commit", "-q", "-m", "pipeline")
        run("remote", "add", "origin", "https://gitlab.example.com/acme/canny-platform.git")
        run("update-ref", "refs/remotes/origin/develop", "HEAD")
        run("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop")
        if tag:
            run("tag", tag)
            run("checkout", "-q", "--detach", tag)
        return repo

    return make


def isolated_environ(home: Path, **variables: str) -> dict[str, str]:
    """The environment for gitlab-ci-local: a fresh HOME (it reads variables from
    ~/.gitlab-ci-local) and none of the CI variables of whatever runs these tests."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), **variables}


_EXPANDED: dict[str, dict] = {}


@pytest.fixture
def expanded_pipeline(
    checkout: Callable[[str, str | None], Path], require_tool: Callable[[str], str]
) -> dict:
    """The whole pipeline as GitLab merges it (extends, anchors, defaults), from
    `gitlab-ci-local --preview`: every job, whatever its rules. Expanded once per
    pipeline text: gitlab-ci-local takes seconds to start."""
    text = PIPELINE.read_text()
    if text not in _EXPANDED:
        _EXPANDED[text] = _expand(checkout("feature/login", None), require_tool)
    return _EXPANDED[text]


def _expand(repo: Path, require_tool: Callable[[str], str]) -> dict:
    result = subprocess.run(
        [require_tool("gitlab-ci-local"), "--preview"],
        cwd=repo,
        env=isolated_environ(repo.parent / "home"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return yaml.safe_load(result.stdout)


def jobs(pipeline: dict) -> dict[str, dict]:
    return {
        name: job
        for name, job in pipeline.items()
        if isinstance(job, dict) and ("script" in job or "trigger" in job)
    }
