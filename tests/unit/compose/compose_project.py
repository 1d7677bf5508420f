"""The compose file and the environment `docker compose config` needs for it: shared by the
compose tests."""

from __future__ import annotations

import os
from pathlib import Path

from tests.owner_keys_for_tests import TEST_OWNER_KEY_SECRET

REPO_ROOT = Path(__file__).resolve().parents[3]
APP_DIR = REPO_ROOT / "app"
COMPOSE_FILE = APP_DIR / "compose.yaml"
# Compose stops with a message when one is missing (`${VAR:?...}` in the file).
REQUIRED_VARS = ("REGISTRY_IMAGE", "IMAGE_TAG", "CANNY_OWNER_KEY_SECRETS")


def compose_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*REQUIRED_VARS, "GATEWAY_PUBLISH")}
    env.update(
        {
            "REGISTRY_IMAGE": "registry.example.com/canny",
            "IMAGE_TAG": "abc123",
            "CANNY_OWNER_KEY_SECRETS": TEST_OWNER_KEY_SECRET,
        }
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v}
