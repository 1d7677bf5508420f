"""Request ids and the access log: one JSON line per request.

A sane incoming X-Request-ID (from the gateway) is kept so one id follows a request
through nginx and the backend; otherwise one is generated. It is echoed in the
response and added to every log line written while the request runs. The Prometheus
counts of the same requests are canny.request_metrics' job.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, has_request_context, request

from canny.json_logs import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# The one X-Request-ID rule; the gateway applies the same (nginx.conf.template).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_LOGGER_NAME = "canny"
access_log = logging.getLogger("canny.access")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and "request_id" in g:
            record.request_id = g.request_id
        return True


def configure_logging(level: str) -> None:
    """Send the `canny` loggers to stderr as JSON (gunicorn collects stderr).

    The JSON line holds the time, level, logger, message and the record's extras
    (canny.json_logs), never where the call was made, its thread or its process, so the
    worker stops gathering those for every record (the access log makes one per request):
    the switches of https://docs.python.org/3/howto/logging.html#optimization."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(_LOGGER_NAME)
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False


def route_label() -> str:
    """The route's rule, so that ids in paths do not make a label or a log field per id."""
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    route = route_label()
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    access_log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
            "bytes_in": request.content_length or 0,
        },
    )
    return response


def init_app(app: Flask, level: str) -> None:
    configure_logging(level)
    app.before_request(_start_request)
    app.after_request(_finish_request)
