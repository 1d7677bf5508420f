"""Layers point one way: ci uses infra, never the reverse; the backend uses none of them.

The layers are import-linter contracts in pyproject.toml (`lint-imports` checks them from
the command line too); the drawing in docs/architecture.md is made from the same graph and
must match the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import (
    PACKAGES,
    broken_contracts,
    layer_configuration,
    mermaid,
    package_imports,
    project_graph,
)

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_every_root_package_is_drawn() -> None:
    assert set(layer_configuration()["session_options"]["root_packages"]) <= set(PACKAGES)


def test_the_code_keeps_every_layer_contract() -> None:
    assert broken_contracts(project_graph()) == []


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("infra.config", "ci.stack_credentials", "ci-on-top"),
        ("infra.host", "canny.settings", "backend-below-all"),
        ("ci.smoke", "localrun.processes", "localrun-below-rehearsal-and-bench"),
        ("canny.settings", "infra.stack_name", "infra-below-ci"),
        ("bench.report", "infra.stack_name", "infra-below-ci"),
        ("infra.config", "infra.rehearse.mocks", "rehearsal-on-top"),
        ("ci.smoke", "bench.report", "bench-on-top"),
    ],
)
def test_an_import_against_the_layers_breaks_its_contract(
    importer: str, imported: str, contract: str
) -> None:
    graph = project_graph()
    graph.add_import(importer=importer, imported=imported)
    assert broken_contracts(graph) == [contract]


def test_the_drawing_in_the_architecture_page_is_the_code_s() -> None:
    """After an intended change, `python -m tests.import_graph` prints the new drawing."""
    assert mermaid(package_imports(project_graph())) in ARCHITECTURE.read_text(encoding="utf-8")
