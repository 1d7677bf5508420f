"""Operational endpoints: liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from canny.api_models import ErrorBody, Status
from canny.errors import NotReadyError
from canny.extensions import current_store
from canny.metrics import exposition
from canny.openapi import answers, describe, openapi_document

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
@describe(resp=answers(HTTP_200=(Status, "OK")))
def healthz() -> Response:
    """Liveness: the process answers"""
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
@describe(resp=answers(HTTP_200=(Status, "Ready"), HTTP_503=(ErrorBody, "Not ready")))
def readyz() -> Response:
    """Readiness: results can be stored

    Ready only when results can be stored (a full disk included), so a load balancer
    or deploy gate sees a backend that cannot take uploads; reads still work meanwhile."""
    if not current_store().is_writable():
        raise NotReadyError(
            "results cannot be written (the result store is full, read-only or unreachable)"
        )
    return jsonify({"status": "ready"})


@blueprint.get("/metrics")
@describe(resp=answers(HTTP_200=(None, "Prometheus text exposition format")))
def metrics() -> Response:
    """Prometheus metrics of all workers"""
    body, content_type = exposition()
    return Response(body, content_type=content_type)


@blueprint.get("/api/openapi.json")
@describe(resp=answers(HTTP_200=(None, "This OpenAPI 3.1 document")))
def openapi() -> Response:
    """This document"""
    return jsonify(openapi_document())
