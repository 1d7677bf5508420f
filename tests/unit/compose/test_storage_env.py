"""The backends take their result store from the deploy's environment, secrets included."""

import re
from pathlib import Path

import pytest
import yaml
from canny.settings import Settings

COMPOSE = yaml.safe_load((Path(__file__).parents[3] / "app" / "compose.yaml").read_text())
STORAGE_VARIABLES = {
    "CANNY_STORAGE",
    "CANNY_S3_BUCKET",
    "CANNY_S3_ENDPOINT_URL",
    "CANNY_S3_REGION",
    "CANNY_RETENTION_DAYS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}
REFERENCE = re.compile(r"\$\{(\w+):-([^}]*)\}")


def test_every_backend_passes_the_storage_variables_through_from_the_deploy() -> None:
    environment = COMPOSE["services"]["backend"]["environment"]
    for variable in STORAGE_VARIABLES:
        match = REFERENCE.fullmatch(str(environment.get(variable, "")))
        assert match and match.group(1) == variable, f"{variable} is not passed through"


def test_the_defaults_compose_renders_start_the_file_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = COMPOSE["services"]["backend"]["environment"]
    defaults = {
        variable: REFERENCE.fullmatch(str(value)).group(2)
        for variable, value in environment.items()
        if REFERENCE.fullmatch(str(value))
    }
    assert defaults["AWS_SECRET_ACCESS_KEY"] == "", "a secret has a default in compose.yaml"
    for variable, value in defaults.items():
        monkeypatch.setenv(variable, value)
    settings = Settings.from_env()
    assert (settings.storage, settings.retention_days) == ("file", 0)
