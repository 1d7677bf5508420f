"""Layers point one way: ci uses infra, never the reverse; the backend uses none of them.

A package may import only the packages listed for it below; the drawing in
docs/architecture.md is generated from the same graph and must match the code.
"""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import PACKAGES, mermaid, package_imports

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
# What each package may import. infra holds the stack-name rules and the stack defaults
# that ci needs, and imports no ci; the backend stands alone (its image holds only it).
MAY_IMPORT: dict[str, set[str]] = {
    "canny": set(),
    "infra": set(),
    "localrun": {"canny"},
    # The rehearsal drives the program (infra) and runs the app's own pieces: the S3
    # client settings of the store (canny) and the process helpers of ./run (localrun).
    "infra.rehearse": {"infra", "canny", "localrun"},
    "ci": {"infra"},
    "bench": {"canny", "localrun"},
}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{package} imports {used}"
        for package, uses in graph.items()
        for used in sorted(uses - MAY_IMPORT[package])
    ]


def test_every_package_has_its_layer() -> None:
    assert set(MAY_IMPORT) == set(PACKAGES)


def test_packages_import_only_the_layers_below_them() -> None:
    assert layer_violations(package_imports()) == []


def test_infra_importing_ci_is_caught(tmp_path: Path) -> None:
    for folder in PACKAGES.values():
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "infra" / "config.py").write_text("def f():\n    from ci import stack_name\n")
    assert layer_violations(package_imports(tmp_path)) == ["infra imports ci"]


def test_the_drawing_in_the_architecture_page_is_the_code_s() -> None:
    """After an intended change, `python -m tests.import_graph` prints the new drawing."""
    assert mermaid(package_imports()) in ARCHITECTURE.read_text(encoding="utf-8")
