"""The /api/images endpoints: upload, list, get and delete edge-detection results."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from canny.edge_params import EdgeParams, parse_params
from canny.errors import InvalidRequestError, NotFoundError, UnsupportedMediaTypeError
from canny.extensions import current_settings, current_store
from canny.image_format import ImageHeader, check_pixel_limit, read_header
from canny.metrics import (
    CACHE_HITS,
    IMAGES_PROCESSED,
    INPUT_BYTES,
    PIXELS_PROCESSED,
    STAGE_SECONDS,
)
from canny.pipeline_runner import PipelineRunner
from canny.settings import Settings
from canny.storage import Metadata, created_now, result_id
from canny.upload_form import parse_upload

LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100

blueprint = Blueprint("images", __name__, url_prefix="/api/images")


def pipeline_runner(app: Flask) -> PipelineRunner:
    """The app's runner, made on first use; gunicorn starts its children before a worker
    serves (gunicorn.conf.py), else the first upload does."""
    runner = app.extensions.get("canny_pipeline_runner")
    if runner is None:
        settings: Settings = app.extensions["canny_settings"]
        runner = app.extensions.setdefault(
            "canny_pipeline_runner",
            PipelineRunner(
                settings.max_processing_seconds,
                settings.pipeline_processes,
                settings.pixel_budget,
            ),
        )
    return runner


def _read_upload(max_bytes: int) -> tuple[bytes, dict[str, str]]:
    """The uploaded file's bytes and the form's text fields."""
    if request.mimetype != "multipart/form-data":
        if not request.content_length:
            raise InvalidRequestError("empty request: send multipart/form-data with a `file` field")
        raise UnsupportedMediaTypeError("send the image as multipart/form-data in a `file` field")
    form = parse_upload(
        request.stream.read,
        request.mimetype_params.get("boundary", ""),
        request.content_length if request.content_length is not None else -1,
        max_bytes,
    )
    if form.file is None:
        raise InvalidRequestError("the multipart form has no `file` field")
    if not form.file:
        raise InvalidRequestError("the uploaded file is empty")
    return form.file, form.fields


def _compute_and_store(
    image_id: str, data: bytes, params: EdgeParams, header: ImageHeader
) -> Metadata:
    # Stored only after the run returned in time: an upload answered with an error is
    # never found stored later.
    displayable = header.format.browser_displayable
    runner = pipeline_runner(current_app)
    result = runner.run(data, params, header.pixels, with_view=not displayable)
    for stage, seconds in result.stage_seconds.items():
        STAGE_SECONDS.labels(stage=stage).observe(seconds)
    extension = header.format.extension
    original_url = f"/results/{image_id}.orig.{extension}"
    metadata = {
        "id": image_id,
        "original_url": original_url,
        # What an <img> can show: the original itself, or its PNG rendition.
        "view_url": original_url if displayable else f"/results/{image_id}.view.png",
        "edges_url": f"/results/{image_id}.png",
        "width": result.width,
        "height": result.height,
        "params": params.as_dict(),
        "format": header.format.name,
        "created_at": created_now(),
    }
    current_store().save(metadata, data, extension, result.png, result.view_png)
    IMAGES_PROCESSED.inc()
    PIXELS_PROCESSED.inc(result.width * result.height)
    return metadata


@blueprint.post("")
def upload_image() -> tuple[Response, int, dict[str, str]]:
    """Answer from the stored result of the same bytes and params if any, else compute.

    A stored result means these exact bytes were accepted before, so a repeat skips the
    header check; only the pixel limit, which a restart may have lowered, is checked again.
    """
    started = time.perf_counter()
    settings = current_settings()
    data, fields = _read_upload(settings.max_upload_bytes)
    params = parse_params(fields)
    image_id = result_id(data, params)
    metadata = current_store().load(image_id)
    cached = metadata is not None
    if metadata is None:
        header = read_header(data, settings.max_pixels)
        metadata = _compute_and_store(image_id, data, params, header)
    else:
        check_pixel_limit(metadata["width"], metadata["height"], settings.max_pixels)
        CACHE_HITS.inc()
    INPUT_BYTES.observe(len(data))
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    body = {**metadata, "cached": cached, "elapsed_ms": elapsed_ms}
    return jsonify(body), 201, {"Location": f"/api/images/{image_id}"}


def _limit_argument() -> int:
    raw = request.args.get("limit", str(LIST_LIMIT_DEFAULT))
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT_MAX:
        raise InvalidRequestError(f"limit must be an integer between 1 and {LIST_LIMIT_MAX}")
    return int(raw)


@blueprint.get("")
def list_images() -> Response:
    items, next_cursor = current_store().list(_limit_argument(), request.args.get("before"))
    return jsonify({"items": items, "next": next_cursor})


def _existing(image_id: str) -> Metadata:
    metadata = current_store().load(image_id)
    if metadata is None:
        raise NotFoundError("no image with this id")
    return metadata


@blueprint.get("/<image_id>")
def get_image(image_id: str) -> Response:
    return jsonify(_existing(image_id))


@blueprint.delete("/<image_id>")
def delete_image(image_id: str) -> tuple[str, int]:
    if not current_store().delete(image_id):
        raise NotFoundError("no image with this id")
    return "", 204
