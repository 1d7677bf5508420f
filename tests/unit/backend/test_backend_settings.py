from pathlib import Path

import pytest
from canny.settings import Settings, SettingsError


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(
        results_dir=Path("results"),
        max_upload_bytes=20 * 1024 * 1024,
        max_pixels=40_000_000,
        log_level="INFO",
        opencv_threads=1,
        max_processing_seconds=10.0,
        pipeline_processes=1,
        pixel_budget=16_000_000,
    )


def test_values_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
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
    assert settings == Settings(Path("/srv/results"), 1000, 2000, "DEBUG", 0, 3, 4, 5_000_000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CANNY_MAX_UPLOAD_BYTES", "20MB"),
        ("CANNY_MAX_UPLOAD_BYTES", "0"),
        ("CANNY_MAX_PIXELS", "-5"),
        ("CANNY_LOG_LEVEL", "LOUD"),
        ("CANNY_OPENCV_THREADS", "65"),
        ("CANNY_MAX_PROCESSING_SECONDS", "0"),
        ("CANNY_PIPELINE_PROCESSES", "0"),
        ("CANNY_PIXEL_BUDGET", "lots"),
    ],
)
def test_invalid_values_fail_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_the_file_store_is_the_default_and_s3_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).storage == "file"
    assert Settings.from_env({}).retention_days == 0
    settings = Settings.from_env(
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
    assert Settings.from_env({"CANNY_STORAGE": "s3", "CANNY_S3_BUCKET": "abc"}).s3_region == (
        "us-east-1"
    )


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
    environ: dict[str, str], name: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(environ)
