"""docs/api.md's table of edge parameters, rendered from the model (canny.edge_params).

The table sits between two marker comments in docs/api.md; tests/unit/test_api_params_table.py
fails when it differs from the model. After a change to the parameters,
`python -m tests.api_params_table` writes the new table into the page.
"""

from __future__ import annotations

from pathlib import Path

from canny.edge_params import EdgeParams, param_ranges

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"
START = "<!-- edge-params table: python -m tests.api_params_table -->"
END = "<!-- end of edge-params table -->"
HEADER = "| name | range | default | on the page | what it does |\n| --- | --- | --- | --- | --- |"


def _row(name: str, spec: dict[str, int | bool | str]) -> str:
    odd = "odd " if spec.get("odd") else ""
    rule = EdgeParams.model_fields[name].description
    hint = f"{spec['hint']} ({rule})" if rule else spec["hint"]
    cells = [
        f"`{name}`",
        f"{odd}{spec['min']}\N{EN DASH}{spec['max']}",
        spec["default"],
        spec["label"],
        hint,
    ]
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def params_table() -> str:
    """The markdown table, one row per field of EdgeParams, in the model's order."""
    return "\n".join([HEADER, *(_row(name, spec) for name, spec in param_ranges().items())])


def documented_table(page: str) -> str:
    """The table as the page has it now, between the markers."""
    if START not in page or END not in page:
        raise ValueError(f"docs/api.md lacks the markers {START!r} and {END!r}")
    return page.split(START, 1)[1].split(END, 1)[0].strip()


def with_table(page: str) -> str:
    """The page with its table replaced by the one the model gives."""
    before = page.split(START, 1)[0]
    after = page.split(END, 1)[1]
    return f"{before}{START}\n{params_table()}\n{END}{after}"


if __name__ == "__main__":
    documented_table(API_PAGE.read_text(encoding="utf-8"))
    API_PAGE.write_text(with_table(API_PAGE.read_text(encoding="utf-8")), encoding="utf-8")
