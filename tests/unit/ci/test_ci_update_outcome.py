"""Reading a failed update's engine events: did it change a cloud resource?"""

import pytest
from pulumi import automation as auto

from ci import update_outcome

DROPLET = "urn:pulumi:prod::canny::digitalocean:index/droplet:Droplet::prod-host"


def pre(op: str, planning: bool) -> dict:
    metadata = {"op": op, "urn": DROPLET}
    return {"resourcePreEvent": {"metadata": metadata, "planning": planning}}


@pytest.mark.parametrize(
    ("lines", "changed"),
    [
        ([], []),
        ([{"preludeEvent": {"config": {}}}], []),
        # A preview pass only: the policy pack stopped the update before any step ran.
        ([pre("update", planning=True), {"policyEvent": {}}], []),
        ([pre("same", planning=False), pre("refresh", planning=False)], []),
        ([pre("update", planning=True), pre("update", planning=False)], [f"update {DROPLET}"]),
        ([pre("delete-replaced", planning=False)], [f"delete-replaced {DROPLET}"]),
    ],
    ids=["nothing", "prelude only", "preview only", "no-op steps", "an update ran", "replaced"],
)
def test_changed_resources(lines: list[dict], changed: list[str]) -> None:
    """`lines` as Pulumi writes them, each read the way the Automation API hands it over."""
    changes = update_outcome.Changes()
    for line in lines:
        changes.record(auto.EngineEvent.from_json(line))
    assert changes.made == changed
