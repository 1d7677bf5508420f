"""Prometheus counts of every request: how many per route, method and status, and how long
each took (canny.metrics defines the series). The access log of the same requests is
canny.request_log's job."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from canny.metrics import REQUEST_SECONDS, REQUESTS, labelled
from canny.request_log import route_label


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("metrics_started", time.perf_counter())
    route = route_label()
    labelled(REQUESTS, route, request.method, str(response.status_code)).inc()
    labelled(REQUEST_SECONDS, route, request.method).observe(seconds)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_count)
