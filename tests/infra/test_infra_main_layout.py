"""infra/__main__.py reads as a table of contents: components and outputs, no decisions."""

import ast

from infra.stack_file import REPO_ROOT

MAIN = REPO_ROOT / "infra" / "__main__.py"
MAX_LINES = 60


def test_the_program_is_at_most_60_lines():
    lines = MAIN.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"infra/__main__.py has {len(lines)} lines"


def test_the_program_makes_no_prod_versus_test_decision():
    """Those live in the settings (infra/config.py): no branch or conditional expression may
    test a setting here, and nothing asks whether the stack is prod."""
    text = MAIN.read_text(encoding="utf-8")
    for word in ("is_production", ".production", "PROD_STACK", '"prod"'):
        assert word not in text, f"infra/__main__.py decides on {word}"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.If | ast.IfExp):
            names = {item.id for item in ast.walk(node.test) if isinstance(item, ast.Name)}
            assert "settings" not in names, f"line {node.lineno}: a decision on the settings"
