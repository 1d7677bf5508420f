"""The backends' owner-key secrets: one per stack, on every droplet, on stdin only."""

import json

import pytest

from infra.bundle import REMOTE_APP_DIR
from infra.offline import MOCK_OWNER_KEY_SECRET, REDACTED
from tests.infra.resource_types import RANDOM_PASSWORD

ROTATED = "rotated-owner-key-secret-0123456789abcdef"


def test_one_generated_secret_reaches_every_droplet_on_stdin(run_stack):
    run = run_stack("prod")
    (generated,) = run.by_type(RANDOM_PASSWORD)
    assert generated.protect, "a new prod secret would refuse every key issued"
    by_name = {item.name: item for item in run.resources}
    for name in ("canny-prod", "canny-prod-2"):
        step = by_name[f"{name}-owner-key-secrets"]
        revealed = run.provider_inputs[step.name]
        assert revealed["stdin"] == f"{MOCK_OWNER_KEY_SECRET}\n", "every droplet, one secret"
        assert revealed["create"] == f"bash {REMOTE_APP_DIR}/bin/owner_key_secrets.sh"
        assert step.inputs["stdin"] == REDACTED, "the plan and state must hold it as a secret"
        assert step.urn in by_name[f"{name}-compose-up"].depends_on, "compose starts after it"


def test_a_configured_secret_goes_first_and_the_generated_one_still_verifies(run_stack):
    run = run_stack("test", ownerKeySecrets=ROTATED)
    assert not run.by_type(RANDOM_PASSWORD)[0].protect, "a test stack must destroy cleanly"
    (step,) = [item for item in run.resources if item.name.endswith("-owner-key-secrets")]
    assert run.provider_inputs[step.name]["stdin"] == f"{ROTATED},{MOCK_OWNER_KEY_SECRET}\n"


@pytest.mark.parametrize("stack", ["prod", "test"])
def test_the_secret_is_in_no_user_data_command_or_plain_output(run_stack, stack):
    run = run_stack(stack)
    for name, inputs in run.provider_inputs.items():
        for field in ("userData", "create", "update", "delete"):
            assert MOCK_OWNER_KEY_SECRET not in json.dumps(inputs.get(field, "")), (name, field)
    assert MOCK_OWNER_KEY_SECRET not in json.dumps([item.inputs for item in run.resources])
    plain = {name: value for name, value in run.outputs.items() if name not in run.secret_outputs}
    assert MOCK_OWNER_KEY_SECRET not in json.dumps(plain, default=str)
