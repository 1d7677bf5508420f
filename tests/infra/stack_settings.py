"""Stack configs for the infra tests: a complete, valid config and the settings it parses
to, with changes (the config tests and the tests that check the program agrees with the
config), and each stack file's own values with the stand-ins the program needs
(`stack_config`)."""

from typing import Any

from infra.config import parse_settings
from infra.plan import REQUIRED_STAND_INS, prod_stand_ins
from infra.stack_file import default_config_file, read_stack_config

# What CI sets on every deploy and no stack file holds: the image tag and the deploy key.
PER_DEPLOY: dict[str, Any] = {
    "imageTag": "0123abcd",
    "sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----",
}

VALID: dict[str, Any] = {
    # Prod refuses the stack files' placeholders (example.com, RFC 5737 ranges): these pass.
    "domain": "canny.example",
    "region": "fra1",
    "size": "s-1vcpu-2gb",
    "image": "debian-12-x64",
    "adminCidrs": '["198.18.0.0/15"]',
    "sshKeyName": "canny-deploy",
    "registryImage": "registry.gitlab.com/example/canny-platform",
    "alertEmails": '["alerts@canny.example"]',
    # Monitoring (on by default) needs Alertmanager's receiver.
    "slackWebhookUrl": "https://hooks.slack.invalid/config-test",
    **PER_DEPLOY,
}


def settings_for(stack: str = "test", **changes: Any):
    raw = {**VALID, **changes}
    return parse_settings(stack, {key: value for key, value in raw.items() if value is not None})


def stack_config(stack: str, **overrides: Any) -> dict[str, Any]:
    """The stack file's values (prod's placeholders and receiver given stand-ins as the
    offline plan does) plus the per-deploy values CI sets; keys as "canny:<name>". An
    override of None removes the key."""
    config, _ = prod_stand_ins(stack, read_stack_config(default_config_file(stack)).values)
    config |= REQUIRED_STAND_INS | {"canny:imageTag": PER_DEPLOY["imageTag"]}
    for key, value in overrides.items():
        full_key = key if ":" in key else f"canny:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value
    return config
