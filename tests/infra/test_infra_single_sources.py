"""One module per fact: the app folder, the image-tag pattern and the stack-name rules are
defined once, and nothing in the code, scripts or tests spells them out again."""

from pathlib import Path

import pytest

from infra import stack_name
from infra.bundle import REMOTE_APP_DIR
from infra.config import ConfigError
from infra.image_tag import IMAGE_TAG
from infra.stack_file import REPO_ROOT
from tests.infra.stack_settings import settings_for

SEARCHED = ("infra", "ci", "app", "tests", "localrun", "bench")
TEXT_SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".conf", ".template", ".md", ".toml", ""}


def _files_spelling(literal: str) -> list[str]:
    found = [
        path
        for folder in SEARCHED
        for path in (REPO_ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in TEXT_SUFFIXES
        and "__pycache__" not in path.parts
        and literal in path.read_text(encoding="utf-8", errors="ignore")
    ]
    if literal in (REPO_ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"):
        found.append(REPO_ROOT / ".gitlab-ci.yml")
    return sorted(str(Path(path).relative_to(REPO_ROOT)) for path in found)


@pytest.mark.parametrize(
    ("literal", "home"),
    [
        (REMOTE_APP_DIR, "infra/bundle.py"),
        (IMAGE_TAG.pattern, "infra/image_tag.py"),
        (stack_name.REVIEW_STACK.pattern, "infra/stack_name.py"),
    ],
    ids=["app-folder", "image-tag", "review-stack-name"],
)
def test_each_fact_is_written_in_one_module_only(literal, home):
    assert _files_spelling(literal) == [home], f"{literal!r} must live in {home} alone"


@pytest.mark.parametrize(
    "stack",
    ["prod", "test", "test-feature-x", "test-" + "a" * 42, "staging", "Prod", "test-", "test-a-"],
)
def test_the_program_accepts_exactly_the_stacks_ci_names(stack):
    """infra/stack_name.py decides; the program's config check asks it (no copy of the rule)."""
    try:
        settings_for(stack)
        accepted = True
    except ConfigError as error:
        accepted = f"stack {stack!r}: use" not in str(error)
    assert accepted == stack_name.is_stack_name(stack)
