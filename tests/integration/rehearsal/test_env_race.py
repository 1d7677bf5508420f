"""The `.env` race: prod's first droplet gets four stdin steps (the bucket's key, the
Alertmanager webhook, the fleet targets, the owner-key secrets) that all depend only on the
copies, so the engine
runs them at once, and each rewrites `.env` with set_env_value (infra/remote/
compose_cli.sh). The rehearsal's `up` shows the SDK starting them together; then the same
four commands, with the inputs the program gave them, run at once RUNS more times over SSH,
each time from an empty `.env`: no step may fail and every key must be there.

Takes 30-60 s (1 s a round on a loaded 2-core machine): the droplets, one `up`, RUNS rounds.
On the unlocked set_env_value (before issue 24's fix) 11 of 60 rounds failed (a step failing
on the vanished .env.tmp, or keys lost), so RUNS rounds would all pass by chance with a
probability under 0.1%.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.rehearse.droplets import Droplet
from infra.rehearse.rehearsal import Rehearsal
from infra.rehearse.remote_steps import Connection, StepError, run_command

RUNS = 40
STDIN_STEPS = (
    "canny-prod-storage-credentials",
    "canny-prod-alertmanager-secret",
    "canny-prod-fleet-targets",
    "canny-prod-owner-key-secrets",
)
# What the stdin steps write into the first droplet's .env.
KEYS = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "ALERTMANAGER_SECRETS_DIR",
    "FLEET_TARGETS_DIR",
    "CANNY_OWNER_KEY_SECRETS",
}
# Alertmanager's step exists only with a webhook; the stand-in is never called.
OVERRIDES = {"canny:slackWebhookUrl": "https://hooks.slack.invalid/rehearsal"}


def _before_compose(name: str) -> bool:
    return not name.endswith(("-compose-up", "-readiness-gate"))


def _env_keys(droplet: Droplet) -> set[str]:
    env = droplet.app_dir / ".env"
    return (
        {line.split("=", 1)[0] for line in env.read_text().splitlines()} if env.exists() else set()
    )


def _at_once(steps: list[dict]) -> list[str]:
    """Run the steps' commands together (as the engine starts them); their errors."""
    barrier = threading.Barrier(len(steps))

    def run(inputs: dict) -> str:
        barrier.wait(timeout=30)
        try:
            run_command(
                Connection.from_inputs(inputs["connection"]), inputs["create"], inputs["stdin"]
            )
        except StepError as error:
            return str(error).strip().splitlines()[-1]
        return ""

    with ThreadPoolExecutor(len(steps)) as pool:
        return [error for error in pool.map(run, steps) if error]


@pytest.mark.docker
def test_env_keeps_every_key_when_the_stdin_steps_run_at_once(two_droplets: list[Droplet]) -> None:
    first = two_droplets[0]
    rehearsal = Rehearsal("prod", two_droplets, overrides=OVERRIDES, log=lambda line: None)
    failed: list[tuple[int, str]] = []
    try:
        result = rehearsal.up("race", runs_step=_before_compose)
    except StepError as error:
        pytest.fail(f"the rehearsal's own up lost the race already: {error}")
    spans = {step.name: step for step in result.steps if step.name in STDIN_STEPS}
    assert max(s.started for s in spans.values()) < min(s.finished for s in spans.values()), (
        "the SDK did not run the stdin steps at once"
    )
    steps = [result.run.provider_inputs[name] for name in STDIN_STEPS]
    for attempt in range(RUNS):
        (first.app_dir / ".env").unlink(missing_ok=True)
        errors = _at_once(steps)
        missing = KEYS - _env_keys(first)
        if errors or missing:
            failed.append((attempt, "; ".join(errors) or f"lost {sorted(missing)}"))
    assert not failed, f"{len(failed)} of {RUNS} rounds failed: {failed}"
