"""One pyproject.toml, five packages: importable once installed, with no sys.path edits."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("canny", "infra", "ci", "localrun", "bench")
SOURCE_DIRS = ("app", "infra", "ci", "localrun", "bench", "tests")
PATH_CHANGES = {"insert", "append", "extend", "remove", "clear", "pop", "__setitem__"}


def _is_sys_path(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    )


def sys_path_edits(source: str) -> list[int]:
    """Lines that change sys.path (a call on it, an assignment to it) or add a site dir."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func
            if (_is_sys_path(target.value) and target.attr in PATH_CHANGES) or (
                target.attr == "addsitedir"
            ):
                lines.append(node.lineno)
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                inner = target.value if isinstance(target, ast.Subscript) else target
                if _is_sys_path(inner):
                    lines.append(node.lineno)
    return lines


def _python_files() -> list[Path]:
    return sorted(
        path
        for folder in SOURCE_DIRS
        for path in (REPO_ROOT / folder).rglob("*.py")
        if "node_modules" not in path.parts
    )


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nsys.path.insert(0, '.')",
        "import sys\nsys.path.append('x')",
        "import sys\nsys.path[:0] = ['x']",
        "import sys\nsys.path += ['x']",
        "import sys\nsys.path = ['x']",
        "import site\nsite.addsitedir('x')",
    ],
)
def test_the_check_finds_sys_path_edits(source: str) -> None:
    assert sys_path_edits(source) == [2]


def test_the_check_leaves_reading_sys_path_alone() -> None:
    assert sys_path_edits("import sys\nprint(sys.path[0], list(sys.path))") == []


def test_no_module_edits_sys_path() -> None:
    found = {
        str(path.relative_to(REPO_ROOT)): lines
        for path in _python_files()
        if (lines := sys_path_edits(path.read_text(encoding="utf-8")))
    }
    assert not found, f"sys.path edited at {found}: list the package in pyproject.toml instead"


def test_pyproject_lists_every_package() -> None:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        setuptools = tomllib.load(file)["tool"]["setuptools"]
    assert set(PACKAGES) <= set(setuptools["packages"])
    assert setuptools["package-dir"]["canny"] == "app/backend/canny"


def test_the_installed_packages_import_from_anywhere(tmp_path: Path) -> None:
    """-I: no PYTHONPATH, no current or script directory on sys.path; only what is installed."""
    # A module of each package that imports its siblings (the __main__ modules run on import).
    modules = "canny, infra.plan, infra.policy.rules, ci.prod_release, localrun.stack, bench.report"
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import {modules}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_pulumi_program_runs_by_path_from_another_directory(tmp_path: Path) -> None:
    """The offline plan runs infra/__main__.py by path, as Pulumi does, away from the checkout."""
    result = subprocess.run(
        [sys.executable, "-I", "-m", "infra.plan", "--stack", "test", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"type": "digitalocean:index/droplet:Droplet"' in result.stdout
