"""A complete, valid stack config and the settings it parses to, with changes: shared by the
config tests and the tests that check the program agrees with the config."""

from typing import Any

from infra.config import parse_settings

VALID: dict[str, Any] = {
    "domain": "example.com",
    "region": "fra1",
    "size": "s-1vcpu-2gb",
    "image": "debian-12-x64",
    "adminCidrs": '["192.0.2.0/24"]',
    "sshKeyName": "canny-deploy",
    "sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "registryImage": "registry.gitlab.com/example/canny-platform",
    "imageTag": "0123abcd",
    "alertEmails": '["ops@example.com"]',
}


def settings_for(stack: str = "test", **changes: Any):
    raw = {**VALID, **changes}
    return parse_settings(stack, {key: value for key, value in raw.items() if value is not None})
