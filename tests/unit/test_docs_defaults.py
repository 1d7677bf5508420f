"""docs/defaults.md is the one place a default is written: its tables must equal the code's.

The values are read from the code that applies them: the backend's settings models
(`canny.settings`), the stack defaults (`infra.stack_defaults`) and the config models'
field defaults (`infra.config.COMPONENTS`). A row missing, left over, or with another value
fails, naming the variable or key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from canny.settings import ENV_PREFIX, ServerSettings, Settings
from pydantic_core import PydanticUndefined

from infra.config import COMPONENTS, NAMESPACE
from infra.stack_defaults import STACK_DEFAULTS, stack_defaults

DEFAULTS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "defaults.md"


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under `## heading`, each as its stripped cells."""
    section = markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in section.splitlines() if line[:1] == "|"]
    return [[cell.strip() for cell in row] for row in rows[2:]]


def documented_value(cell: str) -> str | None:
    """A cell that starts with `value` documents that literal; prose means "no literal"."""
    return cell.split("`")[1] if cell.startswith("`") else None


def code_value(default: object) -> str | None:
    """How a default reads in the docs: `true`, `10`, `INFO`; unset or empty has no literal."""
    if default is None or default is PydanticUndefined or default in ("", ()):
        return None
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def backend_defaults() -> dict[str, str | None]:
    defaults: dict[str, str | None] = {}
    for model in (Settings, ServerSettings):
        for name, field in model.model_fields.items():
            variable = f"{ENV_PREFIX}{name}".upper()
            value = code_value(field.default)
            assert defaults.setdefault(variable, value) == value, f"{variable}: two defaults"
    return defaults


def stack_config_defaults(stack: str) -> dict[str, str]:
    """Every `canny:` key with a default on this stack: the models' own, then the stack's."""
    defaults: dict[str, str] = {}
    for model in COMPONENTS.values():
        for name, field in model.model_fields.items():
            value = code_value(field.default)
            if value is not None:
                defaults[field.alias or name] = value
    return defaults | stack_defaults(stack)


def test_every_backend_variable_is_documented_with_its_default() -> None:
    rows = table_rows(DEFAULTS_PAGE.read_text(encoding="utf-8"), "Backend environment")
    documented = {
        row[0].strip("`"): documented_value(row[1])
        for row in rows
        if row[0].startswith(f"`{ENV_PREFIX}")
    }
    assert documented == backend_defaults()


@pytest.mark.parametrize("column, stack", [(1, "prod"), (2, "test")])
def test_every_stack_default_is_documented_with_its_value(column: int, stack: str) -> None:
    rows = table_rows(DEFAULTS_PAGE.read_text(encoding="utf-8"), "Stack config")
    documented = {
        row[0].strip("`").removeprefix(f"{NAMESPACE}:"): documented_value(row[column])
        for row in rows
    }
    assert documented == stack_config_defaults(stack)


def test_the_stack_table_covers_both_kinds_of_stack() -> None:
    """The test above checks `prod` and `test`; a new kind of stack needs a column here."""
    assert set(STACK_DEFAULTS) == {"prod", "test"}


def test_table_cells_and_code_defaults_read_alike() -> None:
    page = "# Defaults\n\n## Stack config\n\n| key | prod |\n| --- | --- |\n| `canny:x` | `3` |\n"
    rows = table_rows(page, "Stack config")
    assert {row[0]: documented_value(row[1]) for row in rows} == {"`canny:x`": "3"}
    assert code_value(2.0) == "2" and code_value(True) == "true" and code_value("") is None
