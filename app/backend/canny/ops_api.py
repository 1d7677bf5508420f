"""Operational endpoints: liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from canny.errors import NotReadyError
from canny.extensions import current_store
from canny.metrics import exposition
from canny.openapi import openapi_document

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Ready only when results can be stored (a full disk included), so a load balancer
    or deploy gate sees a backend that cannot take uploads; reads still work meanwhile."""
    if not current_store().is_writable():
        raise NotReadyError(
            "results cannot be written (the result store is full, read-only or unreachable)"
        )
    return jsonify({"status": "ready"})


@blueprint.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, content_type=content_type)


@blueprint.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
