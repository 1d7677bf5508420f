"""GET /api/config: the limits and parameter ranges clients must respect, from their one source.

The upload page builds its controls, defaults and checks from this answer, so a limit
changed in the backend's settings (CANNY_MAX_UPLOAD_BYTES, CANNY_MAX_PIXELS) or a range
changed in `edge_params` reaches the page without editing it.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from canny.edge_params import param_ranges
from canny.extensions import current_settings
from canny.image_format import ACCEPTED_FORMATS

blueprint = Blueprint("config", __name__, url_prefix="/api")


@blueprint.get("/config")
def get_config() -> tuple[Response, int, dict[str, str]]:
    settings = current_settings()
    body = {
        "max_upload_bytes": settings.max_upload_bytes,
        "max_pixels": settings.max_pixels,
        "formats": [image_format.name for image_format in ACCEPTED_FORMATS],
        "params": param_ranges(),
    }
    # Revalidated on every load: a restart with a new limit must reach open pages at once.
    return jsonify(body), 200, {"Cache-Control": "no-cache"}
