"""Prod's destroy, rehearsed on the remote side: after an `up` (to compose), the remote
steps' `delete` commands run newest first, and nothing the stdin steps wrote may be left on
the first droplet: not the bucket's key in `.env`, not the Alertmanager secret (issue 24,
item 4; before it no step had a `delete`, and all three were left).

Takes about 20 s (two droplets, one `up`, the deletes).
"""

from __future__ import annotations

import pytest

from infra.rehearse.droplets import Droplet
from infra.rehearse.rehearsal import Rehearsal

SECRET_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "ALERTMANAGER_SECRETS_DIR",
    "CANNY_OWNER_KEY_SECRETS",
)
OVERRIDES = {"canny:slackWebhookUrl": "https://hooks.slack.invalid/rehearsal"}


def _before_compose(name: str) -> bool:
    return not name.endswith(("-compose-up", "-readiness-gate"))


def _left(droplet: Droplet) -> list[str]:
    env = droplet.app_dir / ".env"
    lines = env.read_text().splitlines() if env.exists() else []
    left = [line.split("=", 1)[0] for line in lines if line.startswith(SECRET_KEYS)]
    secrets = droplet.app_dir / "alertmanager-secrets"
    return left + [str(path) for path in secrets.glob("*")] if secrets.exists() else left


@pytest.mark.docker
def test_destroy_leaves_no_secret_the_steps_wrote(two_droplets: list[Droplet]) -> None:
    rehearsal = Rehearsal("prod", two_droplets, overrides=OVERRIDES, log=lambda line: None)
    rehearsal.up("destroy", runs_step=_before_compose)
    assert _left(two_droplets[0]), "the up wrote nothing to delete"
    rehearsal.destroy()
    assert not _left(two_droplets[0]), f"left after destroy: {_left(two_droplets[0])}"
