"""canny.request_metrics counts requests and canny.request_log logs them: each works alone."""

from __future__ import annotations

from canny import request_log, request_metrics
from flask import Flask
from prometheus_client import REGISTRY


def _requests_counted(route: str) -> float:
    labels = {"route": route, "method": "GET", "status": "200"}
    return REGISTRY.get_sample_value("canny_http_requests_total", labels) or 0.0


def _app_answering(route: str) -> Flask:
    app = Flask(__name__)
    app.add_url_rule(route, "probe", lambda **_: "ok")
    return app


def test_requests_are_counted_by_the_metrics_module_alone() -> None:
    app = _app_answering("/counted/<name>")
    request_metrics.init_app(app)
    before = _requests_counted("/counted/<name>")
    assert app.test_client().get("/counted/x").status_code == 200
    assert _requests_counted("/counted/<name>") == before + 1


def test_the_request_log_counts_nothing() -> None:
    app = _app_answering("/logged")
    request_log.init_app(app, "INFO")
    before = _requests_counted("/logged")
    response = app.test_client().get("/logged")
    assert response.headers[request_log.REQUEST_ID_HEADER]
    assert _requests_counted("/logged") == before
