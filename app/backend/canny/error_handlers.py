"""JSON errors: every failure answers `{"error": {"code", "message"}}` with the right status.

The Flask side of canny.errors: the exception classes stay free of Flask there, so the
pipeline children and gunicorn's master import them without the web framework.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from canny.errors import ApiError, PayloadTooLargeError, error_body

log = logging.getLogger(__name__)


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
