"""canny.settings: CANNY_* read by pydantic-settings, defaults, bounds and messages."""

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from canny.settings import ServerSettings, Settings, SettingsError

FromEnv = Callable[[Mapping[str, str]], Settings]


@pytest.fixture
def from_env(monkeypatch: pytest.MonkeyPatch) -> FromEnv:
    """Settings read from exactly these CANNY_* variables: the process environment is
    what pydantic-settings reads, so any other CANNY_* is removed first."""

    def read(environ: Mapping[str, str]) -> Settings:
        for name in [name for name in os.environ if name.upper().startswith("CANNY_")]:
            monkeypatch.delenv(name)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return Settings.from_env()

    return read


def test_defaults_when_nothing_is_set(from_env: FromEnv) -> None:
    settings = from_env({})
    assert settings == Settings(
        results_dir=Path("results"),
        max_upload_bytes=20 * 1024 * 1024,
        max_pixels=40_000_000,
        log_level="INFO",
        opencv_threads=1,
        max_processing_seconds=10.0,
        pipeline_processes=0,
        pixel_budget=40_000_000,
    )


def test_values_are_read_from_the_environment(from_env: FromEnv) -> None:
    settings = from_env(
        {
            "CANNY_RESULTS_DIR": "/srv/results",
            "CANNY_MAX_UPLOAD_BYTES": "1_000",
            "CANNY_MAX_PIXELS": "2000",
            "CANNY_LOG_LEVEL": "debug",
            "CANNY_OPENCV_THREADS": "0",
            "CANNY_MAX_PROCESSING_SECONDS": "3",
            "CANNY_PIPELINE_PROCESSES": "4",
            "CANNY_PIXEL_BUDGET": "5_000_000",
        }
    )
    assert settings == Settings(
        results_dir=Path("/srv/results"),
        max_upload_bytes=1000,
        max_pixels=2000,
        log_level="DEBUG",
        opencv_threads=0,
        max_processing_seconds=3,
        pipeline_processes=4,
        pixel_budget=5_000_000,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CANNY_MAX_UPLOAD_BYTES", "20MB"),
        ("CANNY_MAX_UPLOAD_BYTES", "0"),
        ("CANNY_MAX_PIXELS", "-5"),
        ("CANNY_LOG_LEVEL", "LOUD"),
        ("CANNY_OPENCV_THREADS", "65"),
        ("CANNY_MAX_PROCESSING_SECONDS", "0"),
        ("CANNY_MAX_PROCESSING_SECONDS", "3601"),
        ("CANNY_PIPELINE_PROCESSES", "-1"),
        ("CANNY_PIXEL_BUDGET", "lots"),
    ],
)
def test_invalid_values_fail_naming_the_variable(from_env: FromEnv, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must be .*, got '{value}'$"):
        from_env({name: value})


def test_the_file_store_is_the_default_and_s3_is_read_from_the_environment(
    from_env: FromEnv,
) -> None:
    assert from_env({}).storage == "file"
    assert from_env({}).retention_days == 0
    settings = from_env(
        {
            "CANNY_STORAGE": "s3",
            "CANNY_S3_BUCKET": "canny-results",
            "CANNY_S3_ENDPOINT_URL": "https://fra1.digitaloceanspaces.com/",
            "CANNY_S3_REGION": "fra1",
            "CANNY_RETENTION_DAYS": "30",
            "CANNY_RETENTION_SWEEP_SECONDS": "60",
        }
    )
    assert (settings.storage, settings.s3_bucket, settings.s3_region) == (
        "s3",
        "canny-results",
        "fra1",
    )
    assert settings.s3_endpoint_url == "https://fra1.digitaloceanspaces.com"
    assert (settings.retention_days, settings.retention_sweep_seconds) == (30, 60)
    assert from_env({"CANNY_STORAGE": "s3", "CANNY_S3_BUCKET": "abc"}).s3_region == ("us-east-1")


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({"CANNY_STORAGE": "spaces"}, "CANNY_STORAGE"),
        ({"CANNY_STORAGE": "s3"}, "CANNY_S3_BUCKET"),
        ({"CANNY_STORAGE": "s3", "CANNY_S3_BUCKET": "Bad_Bucket"}, "CANNY_S3_BUCKET"),
        (
            {
                "CANNY_STORAGE": "s3",
                "CANNY_S3_BUCKET": "ok-bucket",
                "CANNY_S3_ENDPOINT_URL": "fra1",
            },
            "CANNY_S3_ENDPOINT_URL",
        ),
        (
            {"CANNY_S3_ENDPOINT_URL": "https://fra1.digitaloceanspaces.com/b"},
            "CANNY_S3_ENDPOINT_URL",
        ),
        ({"CANNY_S3_REGION": "FRA 1"}, "CANNY_S3_REGION"),
        ({"CANNY_RETENTION_DAYS": "-1"}, "CANNY_RETENTION_DAYS"),
    ],
)
def test_invalid_storage_settings_refuse_to_start_naming_the_variable(
    from_env: FromEnv, environ: dict[str, str], name: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        from_env(environ)


def test_the_processing_budget_takes_fractions_of_a_second(from_env: FromEnv) -> None:
    assert from_env({"CANNY_MAX_PROCESSING_SECONDS": "0.5"}).max_processing_seconds == 0.5


def test_empty_values_mean_the_default(from_env: FromEnv) -> None:
    empty = from_env({"CANNY_MAX_UPLOAD_BYTES": "", "CANNY_LOG_LEVEL": "", "CANNY_STORAGE": ""})
    assert (empty.max_upload_bytes, empty.log_level, empty.storage) == (
        20 * 1024 * 1024,
        "INFO",
        "file",
    )


@pytest.mark.parametrize("name", ["CANNY_MAX_UPLOAD_BYTES", "CANNY_LOG_LEVEL", "CANNY_STORAGE"])
def test_a_value_of_only_spaces_is_refused_naming_the_variable(
    from_env: FromEnv, name: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{name} "):
        from_env({name: "  "})


def test_settings_built_in_code_are_checked_like_the_environment() -> None:
    """A test or script passing values gets the same refusal as a deploy setting them."""
    with pytest.raises(SettingsError, match=r"^CANNY_PIPELINE_PROCESSES must be"):
        Settings(pipeline_processes=-1)
    with pytest.raises(SettingsError, match="CANNY_S3_BUCKET must name the bucket"):
        Settings(storage="s3")


def test_the_server_settings_share_the_prefix_and_the_log_level_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANNY_LOG_LEVEL", "warning")
    monkeypatch.setenv("CANNY_GRACEFUL_TIMEOUT", "7")
    server = ServerSettings()
    assert (server.log_level, server.graceful_timeout) == ("WARNING", 7)
    monkeypatch.setenv("CANNY_LOG_LEVEL", "chatty")
    with pytest.raises(SettingsError, match=r"^CANNY_LOG_LEVEL must be a logging level name"):
        ServerSettings()
