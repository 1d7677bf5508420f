"""Reading a failed update's engine events: did it change a cloud resource?"""

import json
from pathlib import Path

import pytest

from ci import update_outcome

DROPLET = "urn:pulumi:prod::canny::digitalocean:index/droplet:Droplet::prod-host"


def pre(op: str, planning: bool) -> str:
    metadata = {"op": op, "urn": DROPLET}
    return json.dumps({"resourcePreEvent": {"metadata": metadata, "planning": planning}})


@pytest.mark.parametrize(
    ("lines", "changed"),
    [
        ([], []),
        ([json.dumps({"preludeEvent": {"config": {}}})], []),
        # A preview pass only: the policy pack stopped the update before any step ran.
        ([pre("update", planning=True), json.dumps({"policyEvent": {}})], []),
        ([pre("same", planning=False), pre("refresh", planning=False)], []),
        ([pre("update", planning=True), pre("update", planning=False)], [f"update {DROPLET}"]),
        ([pre("delete-replaced", planning=False)], [f"delete-replaced {DROPLET}"]),
    ],
    ids=["nothing", "prelude only", "preview only", "no-op steps", "an update ran", "replaced"],
)
def test_changed_resources(lines: list[str], changed: list[str]) -> None:
    assert update_outcome.changed_resources(lines) == changed


def test_a_log_pulumi_never_wrote_means_nothing_changed(tmp_path: Path) -> None:
    """A lock or a config error stops the CLI before the engine writes anything."""
    assert update_outcome.changes_in(tmp_path / "missing.jsonl") == []
