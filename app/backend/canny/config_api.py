"""GET /api/config: the limits and parameter ranges clients must respect, from their one source.

The upload page builds its controls, defaults and checks from this answer, so a limit
changed in the backend's settings (CANNY_MAX_UPLOAD_BYTES, CANNY_MAX_PIXELS) or a range
changed in `edge_params` reaches the page without editing it.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from canny.api_models import FORMAT_NAMES, ClientConfig
from canny.edge_params import param_ranges
from canny.extensions import current_settings
from canny.openapi import answers, describe

blueprint = Blueprint("config", __name__, url_prefix="/api")


@blueprint.get("/config")
@describe(resp=answers(HTTP_200=(ClientConfig, "Limits and ranges")), operation_id="getConfig")
def get_config() -> tuple[Response, int, dict[str, str]]:
    """Upload limits, accepted formats and parameter ranges for clients"""
    settings = current_settings()
    body = ClientConfig(
        max_upload_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        formats=list(FORMAT_NAMES),
        params=param_ranges(),
    )
    # Revalidated on every load: a restart with a new limit must reach open pages at once.
    # Unset: `odd` appears only for the parameters that have it.
    return jsonify(body.model_dump(exclude_unset=True)), 200, {"Cache-Control": "no-cache"}
