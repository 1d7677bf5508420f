"""GET /api/config: the one answer clients build their limits and controls from."""

from collections.abc import Callable
from pathlib import Path

import pytest
from canny import create_app
from canny.settings import Settings
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

Upload = Callable[..., TestResponse]


def test_config_reports_the_running_settings(tmp_path: Path) -> None:
    settings = Settings(results_dir=tmp_path, max_upload_bytes=12_345, max_pixels=6_789)
    response = create_app(settings).test_client().get("/api/config")
    assert response.status_code == 200
    # Revalidated on every load, so a restart with new limits reaches open pages.
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.get_json() == {
        "max_upload_bytes": 12_345,
        "max_pixels": 6_789,
        "formats": ["jpeg", "png", "webp", "bmp", "tiff"],
        "params": {
            "low": {
                "min": 0,
                "max": 1000,
                "default": 100,
                "label": "Low threshold",
                "hint": "Lower it to keep fainter edges that touch strong ones.",
            },
            "high": {
                "min": 0,
                "max": 1000,
                "default": 200,
                "label": "High threshold",
                "hint": "Lower thresholds find more edges; higher ones keep only the strongest.",
            },
            "blur": {
                "min": 1,
                "max": 15,
                "default": 5,
                "odd": True,
                "label": "Blur",
                "hint": "More blur smooths away noise and texture, leaving the main outlines.",
            },
        },
    }


def test_a_field_without_a_control_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page builds a control per field, so a field must say its label and hint."""
    from canny import edge_params

    field = edge_params.EdgeParams.model_fields["blur"]
    bare = [item for item in field.metadata if not isinstance(item, edge_params.Control)]
    monkeypatch.setattr(field, "metadata", bare)
    with pytest.raises(TypeError, match=r"EdgeParams.blur needs a Control\(label, hint\)"):
        edge_params.param_ranges()


@pytest.mark.parametrize("name", ["low", "high", "blur"])
def test_advertised_ranges_are_exactly_what_the_backend_accepts(
    client: FlaskClient, upload: Upload, shapes_png: bytes, name: str
) -> None:
    """Each advertised bound is accepted and one step beyond it refused, so the page's
    checks (built from this answer) cannot drift from the backend's."""
    params = client.get("/api/config").get_json()["params"]
    spec = params[name]
    step = 2 if spec.get("odd") else 1
    image_id = upload(shapes_png).get_json()["id"]

    def status(value: int) -> int:
        # The other threshold is moved out of the way so only `name` decides.
        fields = {"low": 0, "high": 1000, "blur": params["blur"]["default"], name: value}
        return client.post(f"/api/images/{image_id}/rerun", json=fields).status_code

    assert status(spec["min"]) == 201
    assert status(spec["max"]) == 201
    assert status(spec["min"] - step) == 400
    assert status(spec["max"] + step) == 400
