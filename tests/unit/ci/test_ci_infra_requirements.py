import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

from ci import infra_requirements

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_pulumi_jobs_get_the_program_packages_and_not_the_backend() -> None:
    names = {Requirement(line).name for line in infra_requirements.requirements()}
    assert {"pulumi", "pulumi-digitalocean", "pulumi-command", "pulumi-policy"} <= names
    assert "paramiko" in names, "ci/ssh.py, imported by ci.pulumi_cli, needs it"
    assert "pydantic" in names, "infra/config.py reads the stack config into pydantic models"
    assert not names & {"opencv-python-headless", "numpy", "flask"}, names


def test_prints_one_requirement_a_line_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ci.infra_requirements"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert result.stdout.splitlines() == infra_requirements.requirements()
