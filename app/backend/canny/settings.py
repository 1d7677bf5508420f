"""Backend settings, read once from environment variables with documented defaults.

Invalid values fail at startup with a message naming the variable, instead of
surfacing later as a confusing error in the middle of a request.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MIB = 1024 * 1024
STORES = ("file", "s3")
# S3 bucket naming rules (DigitalOcean Spaces follows them):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
REGION_PATTERN = re.compile(r"[a-z0-9-]{2,32}")
DAY_SECONDS = 24 * 3600


class SettingsError(ValueError):
    """An environment variable holds a value the backend cannot run with."""


def env_int(
    environ: Mapping[str, str], name: str, default: int, minimum: int, maximum: int | None = None
) -> int:
    """Read an integer variable; empty or unset means the default."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise SettingsError(f"{name} must be >= {minimum}{upper}, got {value}")
    return value


def env_str(environ: Mapping[str, str], name: str, default: str) -> str:
    return environ.get(name, "").strip() or default


def _log_level(environ: Mapping[str, str]) -> str:
    level = env_str(environ, "CANNY_LOG_LEVEL", "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        raise SettingsError(f"CANNY_LOG_LEVEL must be a logging level name, got {level!r}")
    return level


def _storage(environ: Mapping[str, str]) -> str:
    store = env_str(environ, "CANNY_STORAGE", "file").lower()
    if store not in STORES:
        raise SettingsError(f"CANNY_STORAGE must be one of {', '.join(STORES)}, got {store!r}")
    return store


def _s3_bucket(environ: Mapping[str, str], required: bool) -> str:
    bucket = env_str(environ, "CANNY_S3_BUCKET", "")
    if required and not bucket:
        raise SettingsError("CANNY_S3_BUCKET must name the bucket when CANNY_STORAGE=s3")
    if bucket and BUCKET_PATTERN.fullmatch(bucket) is None:
        raise SettingsError(f"CANNY_S3_BUCKET must be a valid bucket name, got {bucket!r}")
    return bucket


def _s3_endpoint_url(environ: Mapping[str, str]) -> str:
    """Empty means AWS's own endpoint for the region; otherwise an http(s) URL with a host
    and nothing after it (the bucket is not part of the endpoint)."""
    url = env_str(environ, "CANNY_S3_ENDPOINT_URL", "")
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise SettingsError(
            f"CANNY_S3_ENDPOINT_URL must be an http(s) URL such as "
            f"https://fra1.digitaloceanspaces.com, got {url!r}"
        )
    return url.rstrip("/")


def _s3_region(environ: Mapping[str, str]) -> str:
    region = env_str(environ, "CANNY_S3_REGION", "us-east-1")
    if REGION_PATTERN.fullmatch(region) is None:
        raise SettingsError(f"CANNY_S3_REGION must be a region name such as fra1, got {region!r}")
    return region


@dataclass(frozen=True)
class Settings:
    results_dir: Path = Path("results")
    max_upload_bytes: int = 20 * MIB
    max_pixels: int = 40_000_000
    log_level: str = "INFO"
    # One OpenCV thread per request: gunicorn's workers and threads already fill the cores.
    opencv_threads: int = 1
    # Wall-clock seconds one upload's decode + edge pipeline may take before its child
    # process is killed and the upload is refused with 422.
    max_processing_seconds: float = 10.0
    # Child processes per worker that run pipelines (at most this many at once per worker).
    # One: two workers per backend and two backends already keep 4 pipelines busy on a
    # 2-core droplet, and each child holds OpenCV and an image's buffers.
    pipeline_processes: int = 1
    # Declared pixels being decoded at once per worker (see canny.pixel_budget); an image
    # larger than this runs alone.
    pixel_budget: int = 16_000_000
    # Where results live: "file" (results_dir) or "s3" (the bucket below).
    storage: str = "file"
    s3_bucket: str = ""
    # Empty: AWS's endpoint for the region; Spaces: https://<region>.digitaloceanspaces.com
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    # Results older than this many days are deleted (0 keeps everything); the file store
    # sweeps every retention_sweep_seconds, a bucket expires them by its lifecycle rule.
    retention_days: int = 0
    retention_sweep_seconds: int = 3600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        storage = _storage(env)
        return cls(
            results_dir=Path(env_str(env, "CANNY_RESULTS_DIR", str(cls.results_dir))),
            max_upload_bytes=env_int(env, "CANNY_MAX_UPLOAD_BYTES", cls.max_upload_bytes, 1),
            max_pixels=env_int(env, "CANNY_MAX_PIXELS", cls.max_pixels, 1),
            log_level=_log_level(env),
            opencv_threads=env_int(env, "CANNY_OPENCV_THREADS", cls.opencv_threads, 0, 64),
            max_processing_seconds=env_int(
                env, "CANNY_MAX_PROCESSING_SECONDS", int(cls.max_processing_seconds), 1, 3600
            ),
            pipeline_processes=env_int(
                env, "CANNY_PIPELINE_PROCESSES", cls.pipeline_processes, 1, 64
            ),
            pixel_budget=env_int(env, "CANNY_PIXEL_BUDGET", cls.pixel_budget, 1),
            storage=storage,
            s3_bucket=_s3_bucket(env, required=storage == "s3"),
            s3_endpoint_url=_s3_endpoint_url(env),
            s3_region=_s3_region(env),
            retention_days=env_int(env, "CANNY_RETENTION_DAYS", cls.retention_days, 0, 36500),
            retention_sweep_seconds=env_int(
                env, "CANNY_RETENTION_SWEEP_SECONDS", cls.retention_sweep_seconds, 1, DAY_SECONDS
            ),
        )
