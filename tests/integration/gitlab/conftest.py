"""A throwaway git checkout of the pipeline file, as gitlab-ci-local needs one."""

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
PIPELINE = REPO_ROOT / ".gitlab-ci.yml"
EVALUATOR = Path(__file__).with_name("workflow_rules.mjs")


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


def run_gitlab_ci_local(executable: str, repo: Path, *args: str) -> subprocess.CompletedProcess:
    """gitlab-ci-local in the checkout, isolated: a fresh HOME (it reads variables from
    ~/.gitlab-ci-local) and none of the CI variables of whatever runs these tests."""
    return subprocess.run(
        [executable, *args],
        cwd=repo,
        env={"PATH": os.environ["PATH"], "HOME": str(repo.parent / "home")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def check_pipeline_schema(executable: str, pipeline: Path) -> subprocess.CompletedProcess:
    """check-jsonschema with its bundled GitLab CI schema on a pipeline file."""
    return subprocess.run(
        [executable, "--builtin-schema", "vendor.gitlab-ci", str(pipeline)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


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
    result = run_gitlab_ci_local(require_tool("gitlab-ci-local"), repo, "--preview")
    assert result.returncode == 0, result.stdout + result.stderr
    return yaml.safe_load(result.stdout)


def jobs(pipeline: dict) -> dict[str, dict]:
    return {
        name: job
        for name, job in pipeline.items()
        if isinstance(job, dict) and ("script" in job or "trigger" in job)
    }


def evaluate_rules(
    node: str, gitlab_ci_local: str, rules: list[dict], pipelines: dict[str, dict[str, str]]
) -> dict[str, str]:
    """pipeline name -> the `when` that `rules` decide for it."""
    cases = {
        name: {"rules": rules, "variables": variables} for name, variables in pipelines.items()
    }
    return evaluate_cases(node, gitlab_ci_local, cases)


def evaluate_cases(node: str, gitlab_ci_local: str, cases: dict[str, dict]) -> dict[str, str]:
    """case name -> the `when` its `rules` decide for its `variables`, by gitlab-ci-local's
    own rule evaluator (workflow_rules.mjs; the npm bin link points into the package's src/,
    where utils.js lives), all in one node process. "never": the job or pipeline is not
    created."""
    result = subprocess.run(
        [node, str(EVALUATOR), str(Path(gitlab_ci_local).resolve().parent)],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
