"""JSON errors: every failure answers `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)


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
    the pipeline children import, keeps pydantic out of them (about 25 MB each)."""
    return {"error": {"code": code, "message": message}}


def _api_error(error: ApiError) -> tuple[Response, int, dict[str, str]]:
    headers = {}
    if error.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.retry_after_seconds)
    return jsonify(error_body(error.code, error.message)), error.status, headers


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's own errors (404, 405) as JSON, headers such as Allow kept."""
    response = error.get_response()
    code = (error.name or "error").lower().replace(" ", "_")
    response.set_data(jsonify(error_body(code, error.description or code)).get_data())
    response.content_type = "application/json"
    return response


def _unexpected_error(error: Exception) -> tuple[Response, int]:
    log.exception("unhandled error", exc_info=error)
    return jsonify(error_body("internal_error", "internal server error")), 500


def init_app(app: Flask, max_upload_bytes: int) -> None:
    """Register the JSON handlers. The caller holds the settings and names the upload limit,
    so this module needs no app state."""

    def body_too_large(error: RequestEntityTooLarge) -> tuple[Response, int, dict[str, str]]:
        """MAX_CONTENT_LENGTH refused the body before it was read; name the limit that applies."""
        return _api_error(PayloadTooLargeError.over_limit(max_upload_bytes))

    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(RequestEntityTooLarge, body_too_large)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
