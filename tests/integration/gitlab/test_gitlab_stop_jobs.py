"""The stop jobs run the way a runner runs them after the branch is gone: an empty build
folder (GIT_STRATEGY: none), a GitLab that still has the pipeline's ref refs/pipelines/<id>
but no branch, and the stand-in `pulumi`. The job's commands come from the pipeline as
GitLab merges it, so this is what the real job would execute, minus the network: `python3
-m venv` and `pip install` are stand-ins (the test's own interpreter runs the ci modules
from the fetched folder)."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.gitlab.conftest import REPO_ROOT, jobs
from tests.unit.ci.conftest import (
    DESTROY,
    FAKE_PULUMI,
    LAST_UPDATE,
    STACK_LS,
    FakePulumi,
    on_stack,
)

PIPELINE_ID = "42"
PROJECT_PATH = "acme/canny-platform"
BRANCH = "feature/login"
STACK = "test-feature-login"

# run(job name, stacks the backend holds, branch) -> (the job's result, source dir, pulumi)
StopJobRun = Callable[[str, list[dict], str], tuple[subprocess.CompletedProcess, Path, FakePulumi]]

STAND_IN_PYTHON3 = """\
#!/bin/bash
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/bash\\nexec %s "$@"\\n' "$REAL_PYTHON" >"$3/bin/python"
  printf '#!/bin/bash\\necho "pip $*" >>"$PIP_LOG"\\n' >"$3/bin/pip"
  chmod +x "$3/bin/python" "$3/bin/pip"
  exit 0
fi
exec "$REAL_PYTHON" "$@"
"""


def gitlab_server(root: Path, git: str) -> str:
    """A bare repository at <root>/acme/canny-platform.git holding this checkout's tracked
    files under refs/pipelines/42 only: the branch has been deleted."""
    source, bare = root / "source", root / "server" / f"{PROJECT_PATH}.git"
    identity = ["-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
    tracked = (
        subprocess.run(
            [git, "-C", str(REPO_ROOT), "ls-files", "-z"], capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    subprocess.run([git, "init", "-q", str(source)], check=True)
    subprocess.run([git, "-C", str(source), "add", "-A"], check=True)
    subprocess.run([git, *identity, "-C", str(source), "commit", "-qm", "pipeline"], check=True)
    subprocess.run([git, "init", "-q", "--bare", str(bare)], check=True)
    ref = f"HEAD:refs/pipelines/{PIPELINE_ID}"
    subprocess.run([git, "-C", str(source), "push", "-q", str(bare), ref], check=True)
    return f"file://{root / 'server'}"


@pytest.fixture
def stop_job_run(
    tmp_path: Path, expanded_pipeline: dict, require_tool: Callable[[str], str]
) -> StopJobRun:
    git = require_tool("git")
    server_url = gitlab_server(tmp_path, git)
    bin_dir, state, build = tmp_path / "bin", tmp_path / "fake-pulumi", tmp_path / "build"
    for folder in (bin_dir, state, build):
        folder.mkdir()
    (bin_dir / "pulumi").write_text(FAKE_PULUMI.format(python=sys.executable))
    (bin_dir / "python3").write_text(STAND_IN_PYTHON3)
    for tool in ("pulumi", "python3"):
        (bin_dir / tool).chmod(0o755)
    fake = FakePulumi(state)

    def run(
        job_name: str, stacks: list[dict], branch: str = BRANCH
    ) -> tuple[subprocess.CompletedProcess, Path, FakePulumi]:
        fake.set_stacks(stacks)
        job = jobs(expanded_pipeline)[job_name]
        # GitLab runs before_script and script as one shell script that stops at the
        # first failing command.
        script = "\n".join(["set -eo pipefail", *job["before_script"], *job["script"]])
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{Path(git).parent}{os.pathsep}/usr/bin:/bin",
            "HOME": str(tmp_path / "home"),
            "REAL_PYTHON": sys.executable,
            "PIP_LOG": str(tmp_path / "pip.log"),
            "FAKE_PULUMI_DIR": str(state),
            "CI_SERVER_URL": server_url,
            "CI_PROJECT_PATH": PROJECT_PATH,
            "CI_PIPELINE_ID": PIPELINE_ID,
            "CI_JOB_TOKEN": "job-token-never-in-a-url",
            "CI_COMMIT_REF_NAME": branch,
            "CI_PROJECT_DIR": str(build),
        }
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=build,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return result, build / "pipeline-source", fake

    return run


def destroyed(stack: str) -> list[list[str]]:
    """How the Automation API destroys a stack that exists (automation/_stack.py): select
    it, destroy it, then read the update it made."""
    return [["stack", "select", "--stack", stack], on_stack(DESTROY, stack), [*LAST_UPDATE, stack]]


@pytest.mark.parametrize(
    ("stacks", "expected"),
    [
        (
            [{"name": f"acme/canny/{STACK}"}],
            [STACK_LS, *destroyed(STACK), STACK_LS, ["stack", "rm", "--yes", STACK]],
        ),
        ([], [STACK_LS, STACK_LS]),
    ],
    ids=["stack left by a deploy, finished or half-way", "stack already reaped"],
)
def test_stop_review_destroys_from_nothing_but_the_pipeline_ref(
    stop_job_run: StopJobRun, stacks: list[dict], expected: list[list[str]]
) -> None:
    result, source, fake = stop_job_run("stop_review", stacks)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fake.calls() == expected
    assert {record["cwd"] for record in fake.records()} == {str(source)}, (
        "pulumi must run in the fetched source, where Pulumi.yaml is"
    )
    for needed in ("Pulumi.yaml", "Pulumi.test.yaml", "infra/policy/PulumiPolicy.yaml"):
        assert (source / needed).is_file(), f"{needed} did not reach the stop job"
    installed = (source / ".cache" / "infra-requirements.txt").read_text()
    assert "pulumi" in installed and "opencv" not in installed, installed
    assert "job-token-never-in-a-url" not in result.stdout + result.stderr


def test_stop_test_destroys_the_test_stack(stop_job_run: StopJobRun) -> None:
    result, _, fake = stop_job_run("stop_test", [{"name": "test"}], "develop")
    assert result.returncode == 0, result.stdout + result.stderr
    assert fake.calls() == [STACK_LS, *destroyed("test")]


def test_a_stop_job_fails_when_the_pipeline_ref_is_missing(
    stop_job_run: StopJobRun, expanded_pipeline: dict
) -> None:
    """The fetch is real: without the pipeline's ref nothing is destroyed."""
    job = jobs(expanded_pipeline)["stop_review"]
    job["before_script"] = [
        line.replace("${CI_PIPELINE_ID}", "${CI_PIPELINE_ID}0") for line in job["before_script"]
    ]
    try:
        result, _, fake = stop_job_run("stop_review", [{"name": STACK}])
    finally:
        job["before_script"] = [
            line.replace("${CI_PIPELINE_ID}0", "${CI_PIPELINE_ID}") for line in job["before_script"]
        ]
    assert result.returncode != 0
    assert fake.calls() == []
