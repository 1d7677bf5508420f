"""A complete, valid stack config and the settings it parses to, with changes: shared by the
config tests and the tests that check the program agrees with the config."""

from typing import Any

from infra.config import parse_settings

VALID: dict[str, Any] = {
    # Prod refuses the stack files' placeholders (example.com, RFC 5737 ranges): these pass.
    "domain": "canny.example",
    "region": "fra1",
    "size": "s-1vcpu-2gb",
    "image": "debian-12-x64",
    "adminCidrs": '["198.18.0.0/15"]',
    "sshKeyName": "canny-deploy",
    "sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "registryImage": "registry.gitlab.com/example/canny-platform",
    "imageTag": "0123abcd",
    "alertEmails": '["alerts@canny.example"]',
    # Monitoring (on by default) needs Alertmanager's receiver.
    "slackWebhookUrl": "https://hooks.slack.invalid/config-test",
}


def settings_for(stack: str = "test", **changes: Any):
    raw = {**VALID, **changes}
    return parse_settings(stack, {key: value for key, value in raw.items() if value is not None})
