"""The Dockerfiles and the backend's lock, checked without building (the real build runs in
tests/integration/containers)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKEND_DOCKERFILE = REPO_ROOT / "app" / "backend" / "Dockerfile"
GATEWAY_DOCKERFILE = REPO_ROOT / "app" / "gateway" / "Dockerfile"
DOCKERFILES = [BACKEND_DOCKERFILE, GATEWAY_DOCKERFILE]
LOCK = REPO_ROOT / "app" / "backend" / "requirements.lock"
CONSTRAINTS = REPO_ROOT / ".ci" / "constraints.txt"
TEMPLATE = REPO_ROOT / "app" / "gateway" / "nginx.conf.template"
COMPILERS = ("build-essential", "gcc", "g++", "python3-dev", "clang")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, flags=re.MULTILINE)
    return {normalized(name): version for name, version in found}


def final_stage(dockerfile: Path) -> str:
    return re.split(r"^FROM ", dockerfile.read_text(), flags=re.MULTILINE)[-1]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_hadolint_is_clean(dockerfile: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(dockerfile)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"hadolint {dockerfile.name}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_every_stage_starts_from_the_pinned_debian_base(dockerfile: Path) -> None:
    bases = re.findall(r"^FROM (\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    assert bases and set(bases) == {"debian:bookworm-slim"}, f"{dockerfile}: FROM {bases}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_final_stage_runs_as_non_root_with_a_healthcheck(dockerfile: Path) -> None:
    stage = final_stage(dockerfile)
    user = re.search(r"^USER (\d+):(\d+)$", stage, flags=re.MULTILINE)
    assert user and int(user.group(1)) >= 1000, f"{dockerfile}: needs a numeric non-root USER"
    assert re.search(r"^HEALTHCHECK .*CMD", stage, flags=re.MULTILINE | re.DOTALL), dockerfile
    for compiler in COMPILERS:
        assert compiler not in stage, f"{dockerfile}: {compiler} in the final image"


def test_backend_ca_certificates_stay_in_the_build_stage() -> None:
    assert "EXTRA_CA_CERTS" not in final_stage(BACKEND_DOCKERFILE)
    assert 'ARG EXTRA_CA_CERTS=""' in BACKEND_DOCKERFILE.read_text(), "must default to none"


def test_backend_installs_only_hashed_wheels() -> None:
    assert "--require-hashes --only-binary=:all:" in BACKEND_DOCKERFILE.read_text()


def runtime_closure(names: set[str]) -> set[str]:
    """The names plus everything they require on this Python, as installed in the venv."""
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        for text in distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(normalized(requirement.name))
    return found


def test_lock_pins_the_tested_versions_of_every_runtime_dependency() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    direct = {normalized(Requirement(text).name) for text in project["dependencies"]}
    locked = pins(LOCK.read_text())
    tested = pins(CONSTRAINTS.read_text())
    assert set(locked) == runtime_closure(direct), f"lock covers {sorted(locked)}"
    differing = {name: (v, tested.get(name)) for name, v in locked.items() if tested.get(name) != v}
    assert differing == {}, f"lock and .ci/constraints.txt disagree (lock, tested): {differing}"


def test_every_locked_requirement_has_a_hash() -> None:
    logical_lines = LOCK.read_text().replace("\\\n", " ").splitlines()
    requirements = [line for line in logical_lines if line.strip() and not line.startswith("#")]
    assert len(requirements) == len(pins(LOCK.read_text())), "unexpected lines in the lock"
    for requirement in requirements:
        assert "--hash=sha256:" in requirement, f"no hash for {requirement.split()[0]}"


def test_gateway_image_has_a_default_for_every_template_placeholder() -> None:
    placeholders = set(re.findall(r"\$\{(CANNY_[A-Z0-9_]+)\}", TEMPLATE.read_text()))
    defaults = set(
        re.findall(r"^(?:ENV)?\s+(CANNY_[A-Z0-9_]+)=", GATEWAY_DOCKERFILE.read_text(), re.M)
    )
    assert placeholders, "no placeholders found in the template"
    assert placeholders <= defaults, f"no image default for {sorted(placeholders - defaults)}"
