"""The /api/images endpoints: upload, list, get and delete edge-detection results."""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, jsonify, request

from canny import pipeline
from canny.edge_params import EdgeParams, parse_params
from canny.errors import InvalidRequestError, NotFoundError, UnsupportedMediaTypeError
from canny.extensions import current_settings, current_store
from canny.image_format import FORMAT_BY_NAME, ImageHeader, check_pixel_limit, read_header
from canny.metrics import CACHE_HITS, IMAGES_PROCESSED, INPUT_BYTES, PIXELS_PROCESSED
from canny.storage import Metadata, created_now, result_id
from canny.upload_form import parse_upload

LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100

blueprint = Blueprint("images", __name__, url_prefix="/api/images")


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
    result = pipeline.run(data, params)
    extension = header.format.extension
    metadata = {
        "id": image_id,
        "original_url": f"/results/{image_id}.orig.{extension}",
        "edges_url": f"/results/{image_id}.png",
        "width": result.width,
        "height": result.height,
        "params": params.as_dict(),
        "format": header.format.name,
        "created_at": created_now(),
    }
    current_store().save(metadata, data, extension, result.png)
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


RERUN_FIELDS = frozenset(EdgeParams().as_dict())


def _rerun_fields() -> dict[str, str]:
    """`low`, `high`, `blur` from a JSON object or a urlencoded form, as text for `parse_params`.

    JSON values keep their JSON spelling, so `true` or `2.5` fail the integer check with
    the message a form field would get. Unknown names are refused rather than ignored: a
    misspelt `Low` would otherwise silently run with the default.
    """
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidRequestError("the JSON body must be an object with low, high and blur")
        fields = {
            name: value if isinstance(value, str) else json.dumps(value)
            for name, value in body.items()
        }
    elif request.mimetype == "application/x-www-form-urlencoded":
        fields = request.form.to_dict()
    elif request.content_length:
        raise UnsupportedMediaTypeError("send low, high and blur as JSON or a urlencoded form")
    else:
        fields = {}
    unknown = sorted(set(fields) - RERUN_FIELDS)
    if unknown:
        raise InvalidRequestError(f"unknown field(s): {', '.join(unknown)}; use low, high, blur")
    return fields


@blueprint.post("/<image_id>/rerun")
def rerun_image(image_id: str) -> tuple[Response, int, dict[str, str]]:
    """Run the edge detection again on a stored original with new params: answers like an
    upload, without the client sending the original back. The source is looked up like
    any other read of an id, so whatever limits who may read it limits who may re-run it.
    """
    started = time.perf_counter()
    source = _existing(image_id)
    params = parse_params(_rerun_fields())
    image_format = FORMAT_BY_NAME[source["format"]]
    data = current_store().load_original(image_id, image_format.extension)
    if data is None:
        raise NotFoundError("no image with this id")
    check_pixel_limit(source["width"], source["height"], current_settings().max_pixels)
    new_id = result_id(data, params)
    metadata = current_store().load(new_id)
    cached = metadata is not None
    if metadata is None:
        header = ImageHeader(image_format, source["width"], source["height"])
        metadata = _compute_and_store(new_id, data, params, header)
    else:
        CACHE_HITS.inc()
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    body = {**metadata, "cached": cached, "elapsed_ms": elapsed_ms}
    return jsonify(body), 201, {"Location": f"/api/images/{new_id}"}
