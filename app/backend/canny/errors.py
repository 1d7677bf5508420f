"""The API's failures: each exception class carries its HTTP status and its JSON error code.

Standard library only: the pipeline children and gunicorn's master import these classes, and
must not load Flask, Werkzeug or Jinja for them. The Flask handlers that turn them into
`{"error": {"code", "message"}}` answers live beside the HTTP layer (canny.error_handlers).
"""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "invalid_request"
    # Seconds after which the same request may succeed: sent as Retry-After (RFC 9110 10.2.3).
    retry_after_seconds: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(ApiError):
    pass


class InvalidParamsError(ApiError):
    code = "invalid_params"


class InvalidImageError(ApiError):
    code = "invalid_image"


class UnsupportedMediaTypeError(ApiError):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLargeError(ApiError):
    status = 413
    code = "payload_too_large"

    @classmethod
    def over_limit(cls, limit: int) -> PayloadTooLargeError:
        return cls(f"the upload is larger than the limit of {limit} bytes")


class TooManyPixelsError(ApiError):
    status = 413
    code = "too_many_pixels"


class TooManyScansError(ApiError):
    """A progressive JPEG with more scans than encoders write: a decompression bomb in time."""

    status = 413
    code = "too_many_scans"


class ProcessingBudgetError(ApiError):
    """The pipeline ran out of its time budget and was stopped; the same upload would again."""

    status = 422
    code = "processing_budget_exceeded"


class ProcessingFailedError(ApiError):
    status = 422
    code = "processing_failed"


class ProcessingInterruptedError(ApiError):
    """The pipeline child died under the upload (killed, or out of memory): not the file's
    fault as far as anyone can tell, so the client may try again."""

    status = 503
    code = "processing_interrupted"
    retry_after_seconds = 1


class ServerBusyError(ApiError):
    """This worker's pipeline queue is full, or the upload could not start before its
    deadline: answered at once so the gateway tries the other backend and the client later."""

    status = 503
    code = "busy"
    retry_after_seconds = 1


class QuotaExceededError(ApiError):
    """The owner already has as many results as one owner may keep."""

    status = 507
    code = "quota_exceeded"


class NotFoundError(ApiError):
    status = 404
    code = "not_found"


class NotReadyError(ApiError):
    status = 503
    code = "not_ready"


class InsufficientStorageError(ApiError):
    status = 507
    code = "insufficient_storage"


class StorageUnavailableError(ApiError):
    """The result store cannot be reached or answers with errors: try again later."""

    status = 503
    code = "storage_unavailable"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The shape api_models.ErrorBody documents. Built by hand so that this module, which
    the pipeline children import, keeps pydantic out of them (docs/performance.md, "Levers
    kept")."""
    return {"error": {"code": code, "message": message}}
