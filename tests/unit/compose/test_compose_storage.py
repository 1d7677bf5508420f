"""app/compose.yaml passes the storage settings and the bucket's key from the deploy's .env to
both backends, and defaults to the filesystem when none is set (`./run`, single droplets)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.unit.compose.compose_project import COMPOSE_FILE, compose_env

STORAGE_ENV = {
    "CANNY_STORAGE": "s3",
    "CANNY_S3_BUCKET": "canny-prod-results-example-com",
    "CANNY_S3_ENDPOINT_URL": "https://fra1.digitaloceanspaces.com",
    "CANNY_S3_REGION": "fra1",
    "CANNY_RETENTION_DAYS": "30",
    "AWS_ACCESS_KEY_ID": "DO00COMPOSESENTINEL",
    "AWS_SECRET_ACCESS_KEY": "compose-secret-sentinel",
}
DEFAULTS = {
    "CANNY_STORAGE": "file",
    "CANNY_S3_REGION": "us-east-1",
    "CANNY_RETENTION_DAYS": "0",
    "CANNY_S3_BUCKET": "",
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
}


def rendered_backends(compose: str, env_file: Path) -> dict[str, dict]:
    """The backends' environment as docker-compose resolves it from an env file like the
    deploy's .env (docker-compose 1.29: `--env-file`)."""
    names = set(STORAGE_ENV)
    env = {key: value for key, value in compose_env().items() if key not in names}
    command = [compose, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    return {"backend": services["backend"]["environment"]}


@pytest.mark.parametrize(("written", "expected"), [(STORAGE_ENV, STORAGE_ENV), ({}, DEFAULTS)])
def test_backends_get_the_storage_settings_or_the_filesystem_default(
    require_tool: Callable[[str], str], tmp_path: Path, written: dict, expected: dict
) -> None:
    env_file = tmp_path / ".env"
    lines = ["REGISTRY_IMAGE=registry.example.com/canny", "IMAGE_TAG=abc123"]
    env_file.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in written.items())]) + "\n")
    for name, environment in rendered_backends(require_tool("docker-compose"), env_file).items():
        got = {key: environment.get(key) for key in expected}
        assert got == expected, name


def test_the_gateway_never_gets_the_bucket_key() -> None:
    gateway = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["gateway"]["environment"]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(gateway)
