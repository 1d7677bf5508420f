"""A test module imports no other test module: what tests share lives in helper modules
(tests/<dir>/<name>.py without the test_ prefix) or conftest.py fixtures, so running or
changing one test file never runs or breaks another's collection."""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import imported_names

TESTS = Path(__file__).resolve().parents[1]


def imported_test_modules(source: str) -> list[str]:
    return sorted(
        name for name in imported_names(source) if name.split(".")[-1].startswith("test_")
    )


def test_no_test_module_imports_another() -> None:
    importing = {
        str(path.relative_to(TESTS)): imported_test_modules(path.read_text(encoding="utf-8"))
        for path in sorted(TESTS.rglob("*.py"))
    }
    assert {path: names for path, names in importing.items() if names} == {}


def test_an_import_of_a_test_module_is_found() -> None:
    source = "from tests.infra.test_infra_config import settings_for\nimport tests.unit.helper\n"
    assert imported_test_modules(source) == ["tests.infra.test_infra_config"]
