"""Prod's second `up` with a new image tag, rehearsed up to compose: only the steps whose
inputs changed run again, as pulumi-command decides (triggers replace, other inputs update,
provider/pkg/provider/remote/commandController.go and copyController.go; see
infra/rehearse/remote_steps.py). Compose up and the gate are not run here (no images):
what is checked is which steps the second `up` would run.

Takes about 30 s (two droplets, two `up`s of the program).
"""

from __future__ import annotations

import pytest

from infra.rehearse.droplets import Droplet
from infra.rehearse.rehearsal import Rehearsal
from infra.rehearse.remote_steps import Action


def _before_compose(name: str) -> bool:
    return not name.endswith(("-compose-up", "-readiness-gate"))


@pytest.mark.docker
def test_a_new_tag_reruns_only_compose_up_and_the_gate(two_droplets: list[Droplet]) -> None:
    rehearsal = Rehearsal("prod", two_droplets, log=lambda line: None)
    first = rehearsal.up("tag-1", runs_step=_before_compose)
    assert all(step.action is Action.CREATE for step in first.steps)
    copied = two_droplets[0].app_dir / "bin" / "deploy.sh"
    copied_at = copied.stat().st_mtime_ns
    second = rehearsal.up("tag-2", runs_step=_before_compose)
    changed = {step.name: step.action for step in second.steps if step.action is not Action.SAME}
    assert set(changed) == {
        f"{host}-{step}"
        for host in ("canny-prod", "canny-prod-2")
        for step in ("compose-up", "readiness-gate")
    }, changed
    assert copied.stat().st_mtime_ns == copied_at, "an unchanged file was copied again"
