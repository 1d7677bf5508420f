"""Backend settings, read once from `CANNY_*` environment variables by pydantic-settings.

Invalid values fail at startup with a message naming the variable, instead of surfacing
later as a confusing error in the middle of a request. Two models share the rules: the
app's `Settings`, and `ServerSettings` for gunicorn.conf.py, which runs in gunicorn's
master and so must not import the app (this module imports only pydantic).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
# S3 bucket naming rules (DigitalOcean Spaces follows them):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
REGION_PATTERN = re.compile(r"[a-z0-9-]{2,32}")
DAY_SECONDS = 24 * 3600
ENV_PREFIX = "CANNY_"


class SettingsError(ValueError):
    """An environment variable holds a value the backend cannot run with."""


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in logging.getLevelNamesMapping():
        raise ValueError("must be a logging level name")
    return level


def _bucket(value: str) -> str:
    if value and BUCKET_PATTERN.fullmatch(value) is None:
        raise ValueError("must be a valid bucket name")
    return value


def _endpoint_url(value: str) -> str:
    """Empty means AWS's own endpoint for the region; otherwise an http(s) URL with a host
    and nothing after it (the bucket is not part of the endpoint)."""
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("must be an http(s) URL such as https://fra1.digitaloceanspaces.com")
    return value.rstrip("/")


def _region(value: str) -> str:
    if REGION_PATTERN.fullmatch(value) is None:
        raise ValueError("must be a region name such as fra1")
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


LogLevel = Annotated[str, AfterValidator(_log_level)]
# Owner-key secrets shorter than this are refused: HMAC keys below the hash's output size
# weaken it (RFC 2104 section 3, https://www.rfc-editor.org/rfc/rfc2104#section-3).
MIN_OWNER_KEY_SECRET_LENGTH = 32
# Fields whose value an error message must never repeat.
SECRET_FIELDS = frozenset({"owner_key_secrets"})


def _owner_key_secrets(value: SecretStr) -> SecretStr:
    """Comma-separated, each at least MIN_OWNER_KEY_SECRET_LENGTH characters. The message
    never repeats the value: it is a secret."""
    if any(
        len(part.strip()) < MIN_OWNER_KEY_SECRET_LENGTH
        for part in value.get_secret_value().split(",")
    ):
        raise ValueError(
            f"must be comma-separated secrets of at least {MIN_OWNER_KEY_SECRET_LENGTH}"
            " characters each (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value


def _message(error: dict[str, Any]) -> str:
    """pydantic's reason, phrased about the variable: `CANNY_X must be ..., got '...'`.
    A check across fields (no location) already names its variables."""
    reason = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    if not error["loc"]:
        return reason
    variable = f"{ENV_PREFIX}{error['loc'][0]}".upper()
    message = f"{variable} {reason.replace('Input should be', 'must be')}"
    if error["loc"][0] in SECRET_FIELDS:
        return message
    return f"{message}, got {error['input']!r}"


class _EnvSettings(BaseSettings):
    """`CANNY_<FIELD>` per field; empty means the default; frozen once read."""

    # https://docs.pydantic.dev/latest/concepts/pydantic_settings/#environment-variable-names
    # (env_prefix; names are case-insensitive) and #parsing-environment-variable-values
    # (env_ignore_empty: an empty variable, as compose's `${VAR:-}` passes, is left out, so
    # the field keeps its default; pydantic_settings/sources/utils.py, parse_env_vars). A value
    # of only spaces is stripped to "" and refused with the variable's name: more likely a
    # slip than a wish for the default.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, str_strip_whitespace=True, frozen=True
    )

    def __init__(self, **values: Any) -> None:
        """Fail as SettingsError naming the variable, whoever builds the settings."""
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise SettingsError("; ".join(map(_message, error.errors()))) from None


class _PipelineSettings(_EnvSettings):
    """What both gunicorn's master (which starts the backend's pipeline children,
    gunicorn.conf.py) and the app (whose runner admits uploads by them) read."""

    # One OpenCV thread per pipeline run: the backend's children already fill the cores.
    opencv_threads: int = Field(1, ge=0, le=64)
    # Child processes per backend that run pipelines, shared by all its workers
    # (canny.pipeline_pool); 0: one per core the backend may use (its CPU affinity, or its
    # cgroup's CPU quota when lower), so that every core computes while uploads wait and
    # no more children than cores compete.
    pipeline_processes: int = Field(0, ge=0, le=64)


class Settings(_PipelineSettings):
    results_dir: Path = Path("results")
    max_upload_bytes: int = Field(20 * MIB, ge=1)
    max_pixels: int = Field(40_000_000, ge=1)
    log_level: LogLevel = "INFO"
    # Wall-clock seconds one upload's decode + edge pipeline may take before its child
    # process is killed and the upload is refused with 422. Fractions are allowed (a test
    # runs with half a second).
    max_processing_seconds: float = Field(10.0, gt=0, le=3600)
    # Uploads per worker that may wait for a child beyond those running; more answer 503
    # with Retry-After at once (canny.pipeline_runner), for the client to send again.
    pipeline_queue: int = Field(4, ge=0, le=1024)
    # Seconds from the start of an upload's handling to its answer: waits for a child end
    # early enough that the processing budget still fits, and nothing is stored after it.
    # Below the gateway's proxy_read_timeout (60 s), so a client told 503 by the gateway
    # never finds its upload stored later (tests/unit/backend/test_deadlines.py).
    request_deadline_seconds: float = Field(45.0, gt=0, le=3600)
    # Results one owner may keep (0: no limit): every new key could otherwise fill the disk
    # alone. At most 1,000, what a bucket counts in one list request.
    owner_max_results: int = Field(1000, ge=0, le=1000)
    # Bytes one owner's results may store (0: no limit), each shared original and view
    # counted once. 1 GiB: 5 % of prod's 20 GB volume and 2 % of a test droplet's 50 GB
    # disk (s-1vcpu-2gb, https://www.digitalocean.com/pricing/droplets), so one key cannot
    # take the room the disk alert (85 %) leaves; about 340 results of a 2 MB photo.
    owner_max_bytes: int = Field(1 << 30, ge=0)
    # Declared pixels being decoded at once per worker (see canny.pixel_budget); an image
    # larger than this runs alone. As many as max_pixels: the memory ceiling counts the
    # larger of the two per worker anyway, and 16 M let a worker that holds the kept-alive
    # connections run one 4K image (8.3 M) at a time while the other children idled
    # (docs/performance-levers.md, "Pipeline children shared by a backend's workers").
    pixel_budget: int = Field(40_000_000, ge=1)
    # Where results live: "file" (results_dir) or "s3" (the bucket below).
    storage: Annotated[Literal["file", "s3"], BeforeValidator(_lower)] = "file"
    s3_bucket: Annotated[str, AfterValidator(_bucket)] = ""
    # Empty: AWS's endpoint for the region; Spaces: https://<region>.digitaloceanspaces.com
    s3_endpoint_url: Annotated[str, AfterValidator(_endpoint_url)] = ""
    s3_region: Annotated[str, AfterValidator(_region)] = "us-east-1"
    # Results older than this many days are deleted (0 keeps everything); the file store
    # sweeps every retention_sweep_seconds, a bucket expires them by its lifecycle rule.
    retention_days: int = Field(0, ge=0, le=36500)
    retention_sweep_seconds: int = Field(3600, ge=1, le=DAY_SECONDS)
    # Secrets that sign owner keys (canny.owner_keys), comma-separated: the first signs new
    # keys, all verify, so a new secret goes first and an old one stays until its keys may
    # go. Required by the app (create_app fails without), never logged (SecretStr).
    owner_key_secrets: Annotated[SecretStr, AfterValidator(_owner_key_secrets)] | None = None
    # Take keys issued before signing (a bare 43-character id) once more and answer with
    # their signed form, so their galleries are kept; while on, anyone may make up a key.
    accept_unsigned_owner_keys: bool = False

    @model_validator(mode="after")
    def _deadline_holds_a_run(self) -> Settings:
        if self.request_deadline_seconds <= self.max_processing_seconds:
            raise ValueError(
                "CANNY_REQUEST_DEADLINE_SECONDS must be greater than"
                " CANNY_MAX_PROCESSING_SECONDS: a run must fit in a request"
            )
        return self

    @model_validator(mode="after")
    def _bucket_named_for_s3(self) -> Settings:
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("CANNY_S3_BUCKET must name the bucket when CANNY_STORAGE=s3")
        return self

    @property
    def owner_key_secret_list(self) -> tuple[str, ...]:
        if self.owner_key_secrets is None:
            return ()
        return tuple(part.strip() for part in self.owner_key_secrets.get_secret_value().split(","))

    @classmethod
    def from_env(cls) -> Settings:
        """The process environment's settings (what `Settings()` reads), named for callers
        that want to say so."""
        return cls()


class ServerSettings(_PipelineSettings):
    """gunicorn's knobs (gunicorn.conf.py); gunicorn's own GUNICORN_CMD_ARGS still wins."""

    bind: str = "127.0.0.1:8000"
    workers: int = Field(2, ge=1)
    threads: int = Field(16, ge=1)
    timeout: int = Field(60, ge=1)
    graceful_timeout: int = Field(30, ge=1)
    max_requests: int = Field(1000, ge=0)
    max_requests_jitter: int = Field(100, ge=0)
    # Worker heartbeats go to a file there; containers should point it at a tmpfs (/dev/shm).
    worker_tmp_dir: str | None = None
    log_level: LogLevel = "INFO"
