"""docs/api.md's edge-parameter table is the model's: a field added, removed or changed in
canny.edge_params and not written into the page fails here (regenerate it with
`python -m tests.api_params_table`)."""

from __future__ import annotations

from tests.api_params_table import API_PAGE, documented_table, params_table, with_table


def test_api_page_table_equals_the_model() -> None:
    documented = documented_table(API_PAGE.read_text(encoding="utf-8"))
    assert documented == params_table(), "run `python -m tests.api_params_table`"


def test_a_stale_table_is_replaced_whole() -> None:
    page = API_PAGE.read_text(encoding="utf-8")
    stale = page.replace(params_table(), params_table().replace("`blur`", "`blur_old`"))
    assert documented_table(stale) != params_table()
    assert with_table(stale) == page
