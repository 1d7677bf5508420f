"""README.md is the door and docs/*.md the rooms: every relative link must lead somewhere.

Links and headings are read with markdown-it-py, and heading anchors are made by
mdit-py-plugins' anchors plugin, whose default slug mimics GitHub's (lower case,
punctuation dropped, spaces to hyphens, `-1` for a repeated heading; repo
executablebooks/mdit-py-plugins, mdit_py_plugins/anchors/index.py: `slugify`,
`unique_slug`), so a link that works here works where the repository is read.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
README_MAX_LINES = 150
FIRST_COMMANDS = ("./run", "bash .ci/run")


def _parser() -> MarkdownIt:
    # Every heading level gets an anchor, as on GitHub (the plugin's default is h1 only).
    return MarkdownIt("commonmark").enable("table").use(anchors_plugin, max_level=6)


def _tokens(path: Path) -> list[Token]:
    """Block tokens with their inline children flattened in, in document order."""
    flat: list[Token] = []
    for token in _parser().parse(path.read_text(encoding="utf-8")):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def heading_anchors(path: Path) -> set[str]:
    return {
        str(token.attrs["id"])
        for token in _tokens(path)
        if token.type == "heading_open" and "id" in token.attrs
    }


def _targets(path: Path) -> list[str]:
    return [
        str(token.attrs["href"] if token.type == "link_open" else token.attrs["src"])
        for token in _tokens(path)
        if token.type in ("link_open", "image")
    ]


def broken_links(path: Path) -> list[str]:
    """Each relative link of `path` whose file or heading anchor does not exist."""
    problems = []
    for target in _targets(path):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue
        linked = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not linked.exists():
            problems.append(f"{path.name}: {target} (no such file)")
        elif (
            parts.fragment
            and linked.suffix == ".md"
            and unquote(parts.fragment) not in heading_anchors(linked)
        ):
            problems.append(f"{path.name}: {target} (no such heading in {linked.name})")
    return problems


def documentation_files() -> list[Path]:
    return [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", documentation_files(), ids=lambda path: path.name)
def test_relative_links_lead_to_existing_files_and_headings(path: Path) -> None:
    assert broken_links(path) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "room.md").write_text("# Room\n\n## Window seat\n")
    door = tmp_path / "door.md"
    door.write_text(
        "[fine](room.md#window-seat) [here](#door) [web](https://example.com/x.md#nope)\n"
        "[gone](attic.md) [wrong](room.md#fireplace) ![lost](missing.png)\n\n# Door\n"
    )
    assert broken_links(door) == [
        "door.md: attic.md (no such file)",
        "door.md: room.md#fireplace (no such heading in room.md)",
        "door.md: missing.png (no such file)",
    ]


def test_anchors_follow_github_slugs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Deploy for real\n\n## Results, ids and the `edge` pipeline\n\n# Deploy for real\n"
    )
    assert heading_anchors(page) == {
        "deploy-for-real",
        "results-ids-and-the-edge-pipeline",
        "deploy-for-real-1",
    }


def test_readme_is_a_door_not_a_manual() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_readme_starts_its_commands_with_run_and_ci_run() -> None:
    fences = [token for token in _tokens(README) if token.type == "fence"]
    assert fences, "README.md has no code block"
    first_lines = fences[0].content.splitlines()[: len(FIRST_COMMANDS)]
    commands = tuple(line.split("#", 1)[0].strip() for line in first_lines)
    assert commands == FIRST_COMMANDS


def test_no_tracked_file_refers_to_the_design_notes_outside_the_repository() -> None:
    """The design notes the project started from are not part of it; nothing may cite them."""
    missing_name = "DESIGN" + ".md"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    citing = [
        name
        for name in tracked
        if name
        and (REPO_ROOT / name).is_file()
        and missing_name.encode() in (REPO_ROOT / name).read_bytes()
    ]
    assert citing == []
