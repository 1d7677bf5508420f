"""How long a test or review environment lives, and how old a test stack the reaper lets
live, are each written once: `auto_stop_in` on deploy_test (review takes it by alias) and
`ci.reaper.MAX_AGE_HOURS`. The scheduled job and the docs point there."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ci import reaper

REPO_ROOT = Path(__file__).resolve().parents[3]
PIPELINE_FILE = REPO_ROOT / ".gitlab-ci.yml"
PIPELINE = yaml.safe_load(PIPELINE_FILE.read_text())


def test_environment_life_is_written_once_and_shared() -> None:
    values = re.findall(r"^\s*auto_stop_in:\s*(.+)$", PIPELINE_FILE.read_text(), re.MULTILINE)
    written = [value for value in values if not value.startswith("*")]
    assert len(written) == 1, f"auto_stop_in written {len(written)} times: {written}"
    lives = {job: PIPELINE[job]["environment"]["auto_stop_in"] for job in ("deploy_test", "review")}
    assert len(set(lives.values())) == 1, lives


def test_the_scheduled_reaper_uses_the_reapers_own_max_age() -> None:
    script = " ".join(PIPELINE["reap"]["script"])
    assert "ci.reaper" in script, script
    assert "--max-age-hours" not in script, "the job restates the reaper's default"
    assert reaper.parse_args([]).max_age_hours == reaper.MAX_AGE_HOURS


def test_the_reapers_max_age_outlives_an_environment() -> None:
    """Only a stack whose environment failed to stop itself is ever reaped for its age."""
    life = PIPELINE["deploy_test"]["environment"]["auto_stop_in"]
    number, unit = life.split()
    hours = int(number) * {"day": 24, "days": 24, "hour": 1, "hours": 1}[unit]
    assert hours < reaper.MAX_AGE_HOURS, (reaper.MAX_AGE_HOURS, life)


def test_the_docs_link_to_the_values_instead_of_restating_them() -> None:
    restated = re.compile(r"\b(one|1) day\b|\b48 ?h(ours)?\b")
    for page in sorted((REPO_ROOT / "docs").glob("*.md")):
        found = restated.search(page.read_text())
        assert not found, f"{page.name} restates {found.group(0)!r}: link to its one home"
