"""A test module imports no other test module: what tests share lives in helper modules
(tests/<dir>/<name>.py without the test_ prefix) or conftest.py fixtures, so running or
changing one test file never runs or breaks another's collection."""

from __future__ import annotations

import grimp


def imports_of_test_modules(graph: grimp.ImportGraph) -> dict[str, list[str]]:
    """Each module that imports a test module (`test_*`), with the test modules it imports."""
    found = {
        importer: sorted(
            imported
            for imported in graph.find_modules_directly_imported_by(importer)
            if imported.split(".")[-1].startswith("test_")
        )
        for importer in graph.modules
    }
    return {importer: imported for importer, imported in found.items() if imported}


def graph_of_tests() -> grimp.ImportGraph:
    """Every import between the modules under tests/ (grimp reads them, imports none)."""
    return grimp.build_graph("tests", cache_dir=None)


def test_no_test_module_imports_another() -> None:
    assert imports_of_test_modules(graph_of_tests()) == {}


def test_an_import_of_a_test_module_is_found() -> None:
    graph = graph_of_tests()
    graph.add_import(importer="tests.unit.test_import_layers", imported="tests.import_graph")
    graph.add_import(
        importer="tests.unit.test_import_layers", imported="tests.infra.test_infra_config"
    )
    assert imports_of_test_modules(graph) == {
        "tests.unit.test_import_layers": ["tests.infra.test_infra_config"]
    }
