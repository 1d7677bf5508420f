"""The /api/images contract through Flask's test client."""

import errno
import hashlib
import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from canny import create_app, images_api, pipeline
from canny.errors import ProcessingInterruptedError
from canny.owner_keys import Owner
from canny.pipeline_runner import PipelineRunner
from canny.settings import Settings
from canny.storage.contract import content_id
from canny.storage.usage import RECORD_NAME, RECOUNT_SECONDS, Usage
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from tests.owner_keys_for_tests import issued_test_key
from tests.unit.backend import sample_images
from tests.unit.backend.results_folder import visible_files

Upload = Callable[..., TestResponse]


def stored_name(url: str) -> str:
    """The file a /results/ URL names in the results folder."""
    return url.removeprefix("/results/")


def error_code(response: TestResponse) -> str:
    body = response.get_json()
    assert body is not None, f"error response is not JSON: {response.data[:200]!r}"
    assert set(body["error"]) == {"code", "message"}, f"bad error shape: {body}"
    return body["error"]["code"]


@pytest.mark.parametrize("image_format", ["jpeg", "png", "webp", "bmp", "tiff"])
def test_upload_returns_result_and_stores_its_files(
    upload: Upload, settings: Settings, image_format: str
) -> None:
    data = sample_images.encode(sample_images.shapes(), image_format)
    response = upload(data, filename="anything.bin")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    extension = sample_images.EXTENSION_BY_FORMAT[image_format]
    image_id = body["id"]
    owner = Owner(body["owner_key"], False, False).digest
    content = content_id(owner, hashlib.sha256(data).hexdigest())
    assert body["original_url"] == f"/results/{content}.orig.{extension}"
    assert body["edges_url"] == f"/results/{image_id}.png"
    assert (body["width"], body["height"]) == (160, 120)
    assert body["params"] == {"low": 100, "high": 200, "blur": 5}
    assert body["cached"] is False
    assert body["elapsed_ms"] >= 0
    assert response.headers["Location"] == f"/api/images/{image_id}"
    results = settings.results_dir
    assert (results / f"{content}.orig.{extension}").read_bytes() == data
    edges = sample_images.decode_png((results / f"{image_id}.png").read_bytes())
    assert np.array_equal(edges, sample_images.reference_edges(data)), "stored edges differ"
    index_entry = f"owners/{owner}/{image_id}.json"
    view = [f"{content}.view.png"] if image_format == "tiff" else []
    (reference,) = (results / f"owners/{owner}/refs/{content}").iterdir()
    assert visible_files(results) == sorted(
        [
            f"{image_id}.json",
            f"{image_id}.png",
            f"{content}.orig.{extension}",
            index_entry,
            f"owners/{owner}/refs/{content}/{reference.name}",
            *view,
        ]
    ), "unexpected files (temp files left behind?)"
    assert (results / index_entry).samefile(results / f"{image_id}.json"), "index is not a link"
    assert "owner" not in body, "the owner digest must stay on the server"


def test_same_upload_twice_is_one_cached_result(
    upload: Upload, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = upload(shapes_png, low=10, high=20, blur=3).get_json()

    def must_not_run(*args: object) -> None:
        raise AssertionError("a cached upload must not recompute")

    monkeypatch.setattr(PipelineRunner, "run", must_not_run)
    monkeypatch.setattr(images_api, "read_header", must_not_run)
    second = upload(shapes_png, low=10, high=20, blur=3)
    assert second.status_code == 201
    assert second.get_json()["cached"] is True
    assert second.get_json()["id"] == first["id"]
    assert second.get_json()["created_at"] == first["created_at"]


def test_a_cached_result_over_a_since_lowered_pixel_limit_is_413(
    tmp_path: Path, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_key = {"Authorization": "Bearer " + issued_test_key()}

    def post(max_pixels: int) -> TestResponse:
        settings = Settings(results_dir=tmp_path, max_pixels=max_pixels)
        return (
            create_app(settings)
            .test_client()
            .post(
                "/api/images",
                data={"file": (io.BytesIO(shapes_png), "shapes.png")},
                content_type="multipart/form-data",
                headers=owner_key,
            )
        )

    first = post(10_000_000)
    assert first.status_code == 201
    pixels = first.get_json()["width"] * first.get_json()["height"]

    def must_not_run(*args: object) -> None:
        raise AssertionError("the stored result must answer, not a new header check")

    monkeypatch.setattr(images_api, "read_header", must_not_run)
    again = post(pixels - 1)
    assert again.status_code == 413
    assert error_code(again) == "too_many_pixels"


def test_different_params_give_different_results(upload: Upload, shapes_png: bytes) -> None:
    first = upload(shapes_png, low=10, high=20).get_json()
    second = upload(shapes_png, low=10, high=30).get_json()
    assert first["id"] != second["id"]
    assert second["params"] == {"low": 10, "high": 30, "blur": 5}


def _exif_rotated_jpeg() -> bytes:
    image = Image.fromarray(sample_images.shapes(40, 20)[:, :, ::-1])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return sample_images.pillow_bytes(image, "JPEG", exif=exif, quality=95)


def _rgba_png() -> bytes:
    rgba = np.dstack([sample_images.shapes(), np.full((120, 160), 128, np.uint8)])
    return sample_images.encode(rgba, "png")


def _png_16_bit() -> bytes:
    return sample_images.encode(sample_images.shapes().astype(np.uint16) * 257, "png")


def _gray(image_format: str) -> bytes:
    gray = sample_images.shapes()[:, :, 1]
    return sample_images.encode(gray, image_format)


@pytest.mark.parametrize(
    ("data", "size"),
    [
        pytest.param(_exif_rotated_jpeg(), (20, 40), id="exif-orientation-6"),
        pytest.param(_rgba_png(), (160, 120), id="rgba-png"),
        pytest.param(_png_16_bit(), (160, 120), id="16-bit-png"),
        pytest.param(_gray("png"), (160, 120), id="gray-png"),
        pytest.param(_gray("jpeg"), (160, 120), id="gray-jpeg"),
        pytest.param(_gray("tiff"), (160, 120), id="gray-tiff"),
    ],
)
def test_special_inputs_follow_the_reference_pipeline(
    upload: Upload, settings: Settings, data: bytes, size: tuple[int, int]
) -> None:
    response = upload(data)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["width"], body["height"]) == size, "EXIF orientation or size not applied"
    stored = (settings.results_dir / f"{body['id']}.png").read_bytes()
    expected = sample_images.reference_edges(data)
    assert expected.shape == size[::-1]
    assert np.array_equal(sample_images.decode_png(stored), expected)


def _truncated_jpeg() -> bytes:
    return sample_images.encode(sample_images.noise(), "jpeg")[:-300]


BAD_UPLOADS = [
    pytest.param(b"plain text, not an image", "notes.txt", {}, 400, "invalid_image", id="text"),
    pytest.param(b"I am text\n" * 5, "photo.jpg", {}, 400, "invalid_image", id="text-as-jpg"),
    pytest.param(_truncated_jpeg(), "cut.jpg", {}, 400, "invalid_image", id="truncated-jpeg"),
    pytest.param(b"", "empty.png", {}, 400, "invalid_request", id="empty-file"),
    pytest.param(
        sample_images.pillow_bytes(Image.new("RGB", (8, 8)), "GIF"),
        "a.gif",
        {},
        415,
        "unsupported_media_type",
        id="gif",
    ),
    pytest.param(b"%PDF-1.4\n%%EOF\n", "a.pdf", {}, 415, "unsupported_media_type", id="pdf"),
    pytest.param(None, "a.png", {"low": -1}, 400, "invalid_params", id="low-negative"),
    pytest.param(None, "a.png", {"high": 1001}, 400, "invalid_params", id="high-too-big"),
    pytest.param(None, "a.png", {"low": 9, "high": 8}, 400, "invalid_params", id="low>high"),
    pytest.param(None, "a.png", {"blur": 6}, 400, "invalid_params", id="blur-even"),
    pytest.param(None, "a.png", {"blur": 17}, 400, "invalid_params", id="blur-too-big"),
    pytest.param(None, "a.png", {"low": "x"}, 400, "invalid_params", id="low-not-int"),
    pytest.param(
        sample_images.png_declaring(100_000, 100_000),
        "bomb.png",
        {},
        413,
        "too_many_pixels",
        id="declares-100000x100000",
    ),
    pytest.param(
        sample_images.png_declaring(8_000, 5_001),
        "big.png",
        {},
        413,
        "too_many_pixels",
        id="one-row-over-40MP",
    ),
]


@pytest.mark.parametrize(("data", "filename", "fields", "status", "code"), BAD_UPLOADS)
def test_bad_uploads_are_refused_with_json_and_leave_nothing(
    upload: Upload,
    settings: Settings,
    shapes_png: bytes,
    data: bytes | None,
    filename: str,
    fields: dict[str, object],
    status: int,
    code: str,
) -> None:
    response = upload(shapes_png if data is None else data, filename=filename, **fields)
    assert response.status_code == status, response.get_json()
    assert error_code(response) == code
    assert visible_files(settings.results_dir) == [], "a refused upload left files behind"


@pytest.mark.parametrize("size", [(100_000, 100_000), (8_000, 5_001)], ids=["huge", "just-over"])
def test_pixel_bombs_never_reach_the_decoder(
    upload: Upload, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    def must_not_decode(data: bytes) -> None:
        raise AssertionError("an image over the pixel limit reached the decoder")

    monkeypatch.setattr(pipeline, "decode", must_not_decode)
    response = upload(sample_images.png_declaring(*size))
    assert response.status_code == 413
    assert error_code(response) == "too_many_pixels"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        pytest.param({}, 400, "invalid_request", id="empty-body"),
        pytest.param(
            {"data": {"other": "x"}, "content_type": "multipart/form-data"},
            400,
            "invalid_request",
            id="missing-file-field",
        ),
        pytest.param(
            {"data": b'{"file": "x"}', "content_type": "application/json"},
            415,
            "unsupported_media_type",
            id="json-body",
        ),
        pytest.param(
            {"data": b"\x89PNG\r\n\x1a\n", "content_type": "image/png"},
            415,
            "unsupported_media_type",
            id="raw-image-body",
        ),
    ],
)
def test_requests_without_a_multipart_file_are_refused(
    client: FlaskClient, kwargs: dict[str, object], status: int, code: str
) -> None:
    response = client.post("/api/images", **kwargs)
    assert response.status_code == status
    assert error_code(response) == code


@pytest.mark.parametrize("excess", [1, 100_000], ids=["file-one-byte-over", "body-over-limit"])
def test_uploads_over_the_byte_limit_are_413(tmp_path: Path, excess: int) -> None:
    limit = 50_000
    client = create_app(Settings(results_dir=tmp_path, max_upload_bytes=limit)).test_client()
    data = sample_images.encode(sample_images.noise(400, 300), "png")[: limit + excess]
    response = client.post(
        "/api/images",
        data={"file": (io.BytesIO(data), "big.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"
    assert visible_files(tmp_path) == []


def test_full_disk_is_507_and_leaves_no_partial_files(
    upload: Upload, settings: Settings, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    calls = {"count": 0}

    def fsync_until_full(fd: int) -> None:
        calls["count"] += 1
        if calls["count"] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_until_full)
    response = upload(shapes_png)
    assert response.status_code == 507
    assert error_code(response) == "insufficient_storage"
    assert visible_files(settings.results_dir) == [], "partial or temp files left behind"


def _upload_distinct(upload: Upload, count: int) -> list[str]:
    ids = []
    for seed in range(count):
        data = sample_images.encode(sample_images.shapes(seed=seed), "png")
        ids.append(upload(data).get_json()["id"])
    return ids


def test_list_is_newest_first_and_pages_with_a_cursor(client: FlaskClient, upload: Upload) -> None:
    ids = _upload_distinct(upload, 5)
    first = client.get("/api/images?limit=2").get_json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    upload(sample_images.encode(sample_images.shapes(seed=99), "png"))
    second = client.get(f"/api/images?limit=2&before={first['next']}").get_json()
    third = client.get(f"/api/images?limit=2&before={second['next']}").get_json()
    assert [item["id"] for item in second["items"]] == ids[::-1][2:4], "a new upload shifted pages"
    assert [item["id"] for item in third["items"]] == ids[:1]
    assert third["next"] is None


def test_list_of_empty_store_is_empty(client: FlaskClient) -> None:
    assert client.get("/api/images").get_json() == {"items": [], "next": None}


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=-1", "limit=abc", "before=../../etc", "before=1"]
)
def test_bad_list_arguments_are_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/images?{query}")
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"


def test_get_returns_metadata(client: FlaskClient, upload: Upload, shapes_png: bytes) -> None:
    created = upload(shapes_png).get_json()
    response = client.get(f"/api/images/{created['id']}")
    assert response.status_code == 200
    upload_only = {"cached", "elapsed_ms", "owner_key"}
    expected = {key: value for key, value in created.items() if key not in upload_only}
    assert response.get_json() == expected


def test_delete_removes_every_file(
    client: FlaskClient, upload: Upload, settings: Settings, shapes_png: bytes
) -> None:
    image_id = upload(shapes_png).get_json()["id"]
    assert client.delete(f"/api/images/{image_id}").status_code == 204
    assert visible_files(settings.results_dir) == []
    assert client.get(f"/api/images/{image_id}").status_code == 404
    again = client.delete(f"/api/images/{image_id}")
    assert again.status_code == 404
    assert error_code(again) == "not_found"


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize(
    "image_id",
    ["0" * 32, "abc", "..%2F..%2Fetc%2Fpasswd", "A" * 32, "0" * 31 + ".", "0" * 33],
)
def test_unknown_or_malformed_ids_are_404(client: FlaskClient, method: str, image_id: str) -> None:
    response = getattr(client, method)(f"/api/images/{image_id}")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_wrong_method_is_json_405_with_allow(client: FlaskClient) -> None:
    response = client.put("/api/images")
    assert response.status_code == 405
    assert error_code(response) == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_unexpected_failure_is_json_500_and_leaves_nothing(
    upload: Upload, settings: Settings, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(PipelineRunner, "run", broken)
    response = upload(shapes_png)
    assert response.status_code == 500
    assert error_code(response) == "internal_error"
    assert "simulated" not in response.get_data(as_text=True), "internals leaked to the client"
    assert visible_files(settings.results_dir) == []


def test_rerun_answers_like_an_upload_from_the_stored_original(
    client: FlaskClient, upload: Upload, settings: Settings, shapes_png: bytes
) -> None:
    source = upload(shapes_png).get_json()
    response = client.post(f"/api/images/{source['id']}/rerun", data={"low": 20, "high": 60})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["params"] == {"low": 20, "high": 60, "blur": 5}
    assert body["cached"] is False
    assert response.headers["Location"] == f"/api/images/{body['id']}"
    # The same record an upload of those bytes with those params gives: same id, same shape.
    direct = upload(shapes_png, low=20, high=60).get_json()
    assert direct["id"] == body["id"] and direct["cached"] is True
    assert set(body) == set(direct)
    assert (settings.results_dir / stored_name(body["original_url"])).read_bytes() == shapes_png
    edges = sample_images.decode_png((settings.results_dir / f"{body['id']}.png").read_bytes())
    expected = sample_images.reference_edges(shapes_png, low=20, high=60)
    assert np.array_equal(edges, expected), "re-run edges differ from the reference pipeline"


def test_rerun_takes_json_and_repeats_are_cached(
    client: FlaskClient, upload: Upload, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = upload(shapes_png).get_json()
    first = client.post(f"/api/images/{source['id']}/rerun", json={"low": 5, "high": 9, "blur": 3})
    assert first.status_code == 201
    assert first.get_json()["params"] == {"low": 5, "high": 9, "blur": 3}

    def must_not_run(*args: object) -> None:
        raise AssertionError("a cached re-run must not recompute")

    monkeypatch.setattr(PipelineRunner, "run", must_not_run)
    again = client.post(f"/api/images/{source['id']}/rerun", json={"low": 5, "high": 9, "blur": 3})
    assert again.status_code == 201
    assert again.get_json()["cached"] is True
    assert again.get_json()["id"] == first.get_json()["id"]
    unchanged = client.post(f"/api/images/{source['id']}/rerun", json={})
    assert unchanged.get_json()["id"] == source["id"], "default params are the source's own"


@pytest.mark.parametrize(
    "image_id", ["0" * 32, "abc", "..%2F..%2Fetc%2Fpasswd", "A" * 32, "0" * 33]
)
def test_rerun_of_an_unknown_id_is_404(client: FlaskClient, image_id: str) -> None:
    response = client.post(f"/api/images/{image_id}/rerun", json={"low": 1})
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_rerun_of_a_result_whose_original_vanished_is_404(
    client: FlaskClient, upload: Upload, settings: Settings, shapes_png: bytes
) -> None:
    source = upload(shapes_png).get_json()
    (settings.results_dir / stored_name(source["original_url"])).unlink()
    response = client.post(f"/api/images/{source['id']}/rerun", json={"low": 1})
    assert response.status_code == 404
    assert error_code(response) == "not_found"


@pytest.mark.parametrize(
    ("body", "kind", "code"),
    [
        ({"low": 300, "high": 200}, "json", "invalid_params"),
        ({"blur": 4}, "json", "invalid_params"),
        ({"low": True}, "json", "invalid_params"),
        ({"low": 2.5}, "json", "invalid_params"),
        ([1, 2], "json", "invalid_request"),
        ({"high": "1001"}, "form", "invalid_params"),
        ({"low": "x"}, "form", "invalid_params"),
        ({"Low": "20"}, "form", "invalid_request"),
        ({"low": 20, "colour": 1}, "json", "invalid_request"),
    ],
)
def test_rerun_with_bad_params_is_400_and_stores_nothing(
    client: FlaskClient,
    upload: Upload,
    settings: Settings,
    shapes_png: bytes,
    body: object,
    kind: str,
    code: str,
) -> None:
    source = upload(shapes_png).get_json()
    before = visible_files(settings.results_dir)
    url = f"/api/images/{source['id']}/rerun"
    response = client.post(url, json=body) if kind == "json" else client.post(url, data=body)
    assert response.status_code == 400, response.get_json()
    assert error_code(response) == code
    assert visible_files(settings.results_dir) == before


def test_rerun_with_a_multipart_body_is_415(
    client: FlaskClient, upload: Upload, shapes_png: bytes
) -> None:
    """werkzeug reads a malformed multipart body as an empty form; refusing multipart
    keeps a garbled request from running silently with the defaults."""
    source = upload(shapes_png).get_json()
    response = client.post(
        f"/api/images/{source['id']}/rerun",
        data={"low": "20"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


def test_a_jpeg_scan_bomb_is_413_before_decoding(
    client: FlaskClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 3 MB, 50,000-scan, 6000x6000 progressive JPEG would keep libjpeg busy for
    minutes; it is refused from its markers without running the pipeline at all."""

    def must_not_run(*args: object) -> None:
        raise AssertionError("a scan bomb reached the pipeline")

    monkeypatch.setattr(PipelineRunner, "run", must_not_run)
    # Encoded in memory: the test client spools a multi-megabyte `data=` dict to a
    # temp file that it leaves open when the app answers early.
    boundary, body = encode_multipart(
        {"file": FileStorage(io.BytesIO(sample_images.scan_bomb_jpeg(50_000)), "bomb.jpg")}
    )
    response = client.post(
        "/api/images", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 413
    assert error_code(response) == "too_many_scans"
    assert visible_files(settings.results_dir) == []


def test_a_run_over_the_time_budget_is_stopped_422_and_never_stored(tmp_path: Path) -> None:
    """100 scans (the most allowed) over 6000x6000 take seconds to decode; with a 0.5 s
    budget the child is killed, the client gets a JSON 422, nothing is stored then or
    later, and the next upload is served by a fresh child."""
    settings = Settings(results_dir=tmp_path / "results", max_processing_seconds=0.5)
    client = create_app(settings).test_client()
    slow = sample_images.scan_bomb_jpeg(100)

    response = client.post("/api/images", data={"file": (io.BytesIO(slow), "slow.jpg")})
    assert response.status_code == 422, response.get_json()
    assert error_code(response) == "processing_budget_exceeded"
    small = sample_images.encode(sample_images.shapes(), "png")
    assert (
        client.post("/api/images", data={"file": (io.BytesIO(small), "ok.png")}).status_code == 201
    )
    listed = client.get("/api/images").get_json()["items"]
    assert len(listed) == 1, "the upload over budget must not be stored"
    assert len(visible_files(settings.results_dir)) == 5, "only the small upload's 5 files"


@pytest.mark.parametrize("image_format", ["jpeg", "png", "webp", "bmp"])
def test_browser_displayable_originals_are_their_own_view(
    upload: Upload, image_format: str
) -> None:
    body = upload(sample_images.encode(sample_images.shapes(), image_format)).get_json()
    assert body["view_url"] == body["original_url"]


def test_a_tiff_original_gets_a_png_view_stored_with_the_result(
    upload: Upload, client: FlaskClient, settings: Settings
) -> None:
    """Browsers (but Safari) cannot show TIFF: the record points the gallery at a PNG
    rendition of the decoded original, deleted with the result."""
    image = sample_images.shapes()
    body = upload(sample_images.encode(image, "tiff")).get_json()
    image_id = body["id"]
    assert body["view_url"] == body["original_url"].replace(".orig.tiff", ".view.png")
    assert client.get(f"/api/images/{image_id}").get_json()["view_url"] == body["view_url"]
    view = sample_images.decode_png(
        (settings.results_dir / stored_name(body["view_url"])).read_bytes()
    )
    assert np.array_equal(view, image), "the view is the decoded original, pixel for pixel"
    assert client.delete(f"/api/images/{image_id}").status_code == 204
    assert visible_files(settings.results_dir) == []


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_lookup_by_sha256_returns_the_callers_record_without_the_file(
    client: FlaskClient, upload: Upload, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = upload(shapes_png, low=10, high=20, blur=3).get_json()

    def must_not_run(*args: object) -> None:
        raise AssertionError("a lookup must never run the pipeline")

    monkeypatch.setattr(PipelineRunner, "run", must_not_run)
    response = client.get(f"/api/images/lookup?sha256={_sha256(shapes_png)}&low=10&high=20&blur=3")
    assert response.status_code == 200, response.get_json()
    stored = client.get(f"/api/images/{created['id']}").get_json()
    assert response.get_json() == {**stored, "cached": True}
    assert response.headers["Cache-Control"] == "private, no-store"


def test_lookup_params_default_like_an_upload(
    client: FlaskClient, upload: Upload, shapes_png: bytes
) -> None:
    created = upload(shapes_png).get_json()
    for query in ("", "&low=&high=&blur=", "&low=100&high=200&blur=5"):
        response = client.get(f"/api/images/lookup?sha256={_sha256(shapes_png)}{query}")
        assert response.status_code == 200, query
        assert response.get_json()["id"] == created["id"]


@pytest.mark.parametrize("query", ["low=10&high=20&blur=5", "blur=3", "low=0"])
def test_lookup_with_other_params_is_404(
    client: FlaskClient, upload: Upload, shapes_png: bytes, query: str
) -> None:
    upload(shapes_png, low=10, high=20, blur=3)
    response = client.get(f"/api/images/lookup?sha256={_sha256(shapes_png)}&{query}")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_lookup_of_an_unknown_deleted_or_others_image_is_404(
    app: Flask, client: FlaskClient, upload: Upload, shapes_png: bytes
) -> None:
    image_id = upload(shapes_png).get_json()["id"]
    path = f"/api/images/lookup?sha256={_sha256(shapes_png)}"
    assert client.get(path).status_code == 200
    stranger = app.test_client()
    assert error_code(stranger.get(path)) == "not_found"
    unknown = client.get(f"/api/images/lookup?sha256={_sha256(b'never uploaded')}")
    assert unknown.status_code == 404
    assert error_code(unknown) == "not_found"
    assert client.delete(f"/api/images/{image_id}").status_code == 204
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "query",
    ["", "sha256=", "sha256=abc", f"sha256={'A' * 64}", f"sha256={'g' * 64}", f"sha256={'0' * 65}"],
)
def test_lookup_with_a_malformed_sha256_is_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/images/lookup?{query}")
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"


@pytest.mark.parametrize("query", ["low=300&high=200", "blur=4", "high=1001", "low=x"])
def test_lookup_with_bad_params_is_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/images/lookup?sha256={'0' * 64}&{query}")
    assert response.status_code == 400
    assert error_code(response) == "invalid_params"


def test_lookup_is_not_taken_for_an_id(client: FlaskClient) -> None:
    options = client.options("/api/images/lookup")
    assert set(options.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    refused = client.delete("/api/images/lookup")
    assert refused.status_code == 405
    assert error_code(refused) == "method_not_allowed"


@pytest.mark.parametrize("path", ["/api/images", f"/api/images/{'0' * 32}/rerun"])
def test_an_options_request_gets_no_owner_cookie(client: FlaskClient, path: str) -> None:
    """A preflight acts for nobody; it used to be handed a new owner key as a cookie."""
    response = client.options(path, headers={"Origin": "http://localhost:9999"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_a_pipeline_child_dying_under_an_upload_is_a_503_with_retry_after(
    upload: Upload, settings: Settings, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise ProcessingInterruptedError("the image processor stopped; try again")

    monkeypatch.setattr(PipelineRunner, "run", interrupted)
    response = upload(shapes_png)
    assert response.status_code == 503
    assert error_code(response) == "processing_interrupted"
    assert response.headers["Retry-After"] == "1"
    assert visible_files(settings.results_dir) == []


def test_a_truncated_jpeg_is_400_and_stores_nothing(
    upload: Upload, settings: Settings, shapes_png: bytes
) -> None:
    """The probe got 201 and a stored half-grey result for a JPEG cut mid-stream."""
    jpeg = sample_images.encode(sample_images.noise(400, 300), "jpeg")
    response = upload(jpeg[: len(jpeg) // 2] + b"\xff\xd9")
    assert response.status_code == 400, response.get_json()
    assert error_code(response) == "invalid_image"
    assert visible_files(settings.results_dir) == []


def test_an_owner_over_the_result_quota_gets_507_and_nothing_is_stored(
    tmp_path: Path, shapes_png: bytes
) -> None:
    """Issue 28: no per-owner quota, so one key (or a new key per upload) filled the disk."""
    settings = Settings(results_dir=tmp_path / "results", owner_max_results=2)
    client = create_app(settings).test_client()
    key = {"Authorization": "Bearer " + issued_test_key()}

    def send(data: bytes) -> TestResponse:
        return client.post("/api/images", data={"file": (io.BytesIO(data), "a.png")}, headers=key)

    first, _ = send(shapes_png), send(sample_images.encode(sample_images.noise(), "png"))
    before = visible_files(settings.results_dir)
    refused = send(sample_images.encode(sample_images.gradient(), "png"))
    assert refused.status_code == 507
    assert error_code(refused) == "quota_exceeded"
    assert visible_files(settings.results_dir) == before
    assert send(shapes_png).get_json()["cached"] is True, "a stored result is still answered"
    assert client.delete(f"/api/images/{first.get_json()['id']}", headers=key).status_code == 204
    assert send(sample_images.encode(sample_images.gradient(), "png")).status_code == 201


def test_an_owner_over_the_byte_quota_gets_507_naming_that_limit(
    tmp_path: Path, shapes_png: bytes
) -> None:
    """Issue 28: a per-owner quota in bytes beside the count, each shared original once."""
    settings = Settings(results_dir=tmp_path / "results", owner_max_bytes=3 * len(shapes_png))
    client = create_app(settings).test_client()
    key = {"Authorization": "Bearer " + issued_test_key()}

    def send(data: bytes, low: int = 100) -> TestResponse:
        form = {"file": (io.BytesIO(data), "a.png"), "low": str(low)}
        return client.post("/api/images", data=form, headers=key)

    first = send(shapes_png)
    assert first.status_code == 201
    # Re-runs add only an edge map and a record: the original is stored once.
    assert send(shapes_png, low=50).status_code == 201
    before = visible_files(settings.results_dir)
    refused = send(sample_images.encode(sample_images.noise(400, 300), "png"))
    assert refused.status_code == 507
    assert error_code(refused) == "quota_exceeded"
    assert "CANNY_OWNER_MAX_BYTES" in refused.get_json()["error"]["message"]
    assert visible_files(settings.results_dir) == before
    assert send(shapes_png).get_json()["cached"] is True, "a stored result is still answered"


def _keep_usage(settings: Settings, owner_key: str, usage: Usage) -> None:
    """Overwrite the owner's usage record, as a lost update or a crash would leave it."""
    owner = Owner(owner_key, False, False).digest
    (settings.results_dir / "owners" / owner / RECORD_NAME).write_bytes(usage.encode())


def test_a_usage_record_ahead_never_refuses_and_one_behind_heals_when_stale(
    tmp_path: Path,
) -> None:
    """Issue 31: the quota check listed the owner's results twice per upload; it now reads a
    kept record, which may be wrong: a refusal is decided on a recount, and a record behind
    is trusted only until RECOUNT_SECONDS old."""
    settings = Settings(results_dir=tmp_path / "results", owner_max_results=3)
    client = create_app(settings).test_client()
    owner_key = issued_test_key()
    key = {"Authorization": "Bearer " + owner_key}

    def send(seed: int) -> TestResponse:
        data = sample_images.encode(sample_images.noise(40, 30, seed=seed), "png")
        return client.post("/api/images", data={"file": (io.BytesIO(data), "a.png")}, headers=key)

    assert [send(seed).status_code for seed in range(2)] == [201, 201]
    _keep_usage(settings, owner_key, Usage(results=3, bytes=0, counted_at=time.time()))
    assert send(2).status_code == 201, "refused on a record ahead of the truth"
    # Three results now: a fresh record behind by two is trusted (what racing saves may
    # cost), and a stale one is recounted and refuses.
    _keep_usage(settings, owner_key, Usage(results=1, bytes=0, counted_at=time.time()))
    assert send(3).status_code == 201
    stale = time.time() - RECOUNT_SECONDS - 1
    _keep_usage(settings, owner_key, Usage(results=0, bytes=0, counted_at=stale))
    refused = send(4)
    assert refused.status_code == 507, refused.get_json()
    assert error_code(refused) == "quota_exceeded"


def test_reruns_of_one_tiff_share_one_stored_original_and_view(
    client: FlaskClient, upload: Upload, settings: Settings
) -> None:
    """Issue 28: every parameter change stored the original and the view again."""
    source = upload(sample_images.encode(sample_images.shapes(), "tiff")).get_json()
    reruns = [
        client.post(f"/api/images/{source['id']}/rerun", json={"low": low}).get_json()
        for low in (10, 20)
    ]
    assert {body["original_url"] for body in [source, *reruns]} == {source["original_url"]}
    assert {body["view_url"] for body in [source, *reruns]} == {source["view_url"]}
    top = [name for name in visible_files(settings.results_dir) if "/" not in name]
    assert sum(".orig." in name for name in top) == 1
    assert sum(name.endswith(".view.png") for name in top) == 1
    for body in [source, reruns[0]]:
        assert client.delete(f"/api/images/{body['id']}").status_code == 204
    assert (settings.results_dir / stored_name(source["original_url"])).exists()
    assert client.delete(f"/api/images/{reruns[1]['id']}").status_code == 204
    assert visible_files(settings.results_dir) == []


def test_preview_answers_the_edges_as_png_and_stores_nothing(
    client: FlaskClient, upload: Upload, settings: Settings, shapes_png: bytes
) -> None:
    source = upload(shapes_png).get_json()
    before = visible_files(settings.results_dir)
    response = client.get(f"/api/images/{source['id']}/preview.png?low=20&high=60&blur=3")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == images_api.PRIVATE_CACHE_CONTROL
    expected = sample_images.reference_edges(shapes_png, low=20, high=60, blur=3)
    assert np.array_equal(sample_images.decode_png(response.data), expected)
    assert visible_files(settings.results_dir) == before, "a preview must leave nothing behind"
    listed = client.get("/api/images").get_json()["items"]
    assert [item["id"] for item in listed] == [source["id"]]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("low=300&high=200", "invalid_params"),
        ("blur=4", "invalid_params"),
        ("Low=20", "invalid_request"),
    ],
)
def test_preview_with_bad_params_is_400(
    client: FlaskClient, upload: Upload, shapes_png: bytes, query: str, code: str
) -> None:
    source = upload(shapes_png).get_json()
    response = client.get(f"/api/images/{source['id']}/preview.png?{query}")
    assert response.status_code == 400
    assert error_code(response) == code


def test_preview_of_another_owners_image_is_404(
    app: Flask, upload: Upload, shapes_png: bytes
) -> None:
    source = upload(shapes_png).get_json()
    stranger = app.test_client()
    response = stranger.get(f"/api/images/{source['id']}/preview.png?low=20")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_preview_with_a_repeated_param_is_400(
    client: FlaskClient, upload: Upload, shapes_png: bytes
) -> None:
    """One rule for repeated fields everywhere (issue 28): refused, never first or last wins."""
    source = upload(shapes_png).get_json()
    response = client.get(f"/api/images/{source['id']}/preview.png?low=1&low=2")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "field 'low' is given more than once"
