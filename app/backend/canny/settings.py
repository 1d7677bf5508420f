"""Backend settings, read once from environment variables with documented defaults.

Invalid values fail at startup with a message naming the variable, instead of
surfacing later as a confusing error in the middle of a request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
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
        )
