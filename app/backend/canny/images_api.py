"""The /api/images endpoints: upload, list, get and delete edge-detection results.

Every call acts for one owner (see owner_keys): it sees and changes only that owner's
results, and another owner's id is answered exactly like an unknown one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping

from flask import Blueprint, Response, g, jsonify, request

from canny.api_models import (
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    ImageList,
    ImageRecord,
    ListQuery,
    LookupQuery,
    LookupResult,
    RerunFields,
    UploadForm,
    UploadResult,
)
from canny.client_text import quoted
from canny.edge_params import EdgeParams, param_names, parse_params
from canny.errors import (
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    ServerBusyError,
    UnsupportedMediaTypeError,
)
from canny.extensions import (
    current_owner_keys,
    current_runner,
    current_settings,
    current_store,
)
from canny.image_format import FORMAT_BY_NAME, ImageHeader, check_pixel_limit, read_header
from canny.metrics import (
    CACHE_HITS,
    IMAGES_PROCESSED,
    INPUT_BYTES,
    PIXELS_PROCESSED,
    STAGE_SECONDS,
    labelled,
)
from canny.openapi import OWNER_SECURITY, answers, describe, errors
from canny.owner_keys import InvalidOwnerKeyError, Owner, clear_cookie, owner_of, set_cookie
from canny.request_origin import check_same_origin
from canny.rerun_body import rerun_fields, unique_fields
from canny.storage import Metadata, created_now, result_id
from canny.storage.contract import SHA256_PATTERN, content_id, content_stem
from canny.storage.usage import Usage
from canny.upload_form import parse_upload

# Id routes take exactly 32 characters, the length of an id, so `/lookup` is never also an
# id: an OPTIONS answer lists the methods of every rule that matches the path
# (https://werkzeug.palletsprojects.com/en/stable/routing/#werkzeug.routing.UnicodeConverter
# for `length`; Map.allowed_methods in werkzeug/routing/map.py), and /lookup has only GET.
ID_RULE = "<string(length=32):image_id>"
_INVALID_KEY = "An owner key this service did not issue (Authorization: Bearer or the cookie)"
_STORAGE_UNAVAILABLE = (
    "The result store is unreachable or failing, the image processor stopped under the"
    " upload, or this backend's upload queue is full or its deadline passed (the last three"
    " with Retry-After); try again later"
)
_NO_SPACE = (
    "No space left to store the result, or the owner has CANNY_OWNER_MAX_RESULTS results"
    " or CANNY_OWNER_MAX_BYTES bytes stored"
)
_NOT_FOUND = "No result of the caller's with this id"
_CROSS_ORIGIN = "A browser's call from another origin (Sec-Fetch-Site or Origin) with the cookie"

blueprint = Blueprint("images", __name__, url_prefix="/api/images")
# Answers hold one owner's data: no shared cache may keep or reuse them.
PRIVATE_CACHE_CONTROL = "private, no-store"


@blueprint.before_request
def _identify_owner() -> None:
    g.owner_refused = False
    g.deadline = time.monotonic() + current_settings().request_deadline_seconds
    if request.method == "OPTIONS":
        # A preflight or an Allow query acts for nobody: issuing it a key (and a cookie)
        # handed out owners to requests that can do nothing with them.
        return
    check_same_origin(request)
    try:
        g.owner = owner_of(request, current_owner_keys())
    except InvalidOwnerKeyError:
        g.owner_refused = True
        raise


@blueprint.after_request
def _hand_over_key(response: Response) -> Response:
    """Set a new key as the cookie, renew a cookie that came in, drop a malformed one.

    `request.is_secure` is true when the gateway says the client used HTTPS
    (X-Forwarded-Proto, trusted through ProxyFix in create_app).
    """
    response.headers["Cache-Control"] = PRIVATE_CACHE_CONTROL
    if g.get("owner_refused"):
        # A 401 names the scheme and says the token was invalid (RFC 6750 section 3,
        # https://www.rfc-editor.org/rfc/rfc6750#section-3).
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        if "Authorization" not in request.headers:
            clear_cookie(response, request.is_secure)
        return response
    owner: Owner | None = g.get("owner")
    if owner is not None and (owner.issued or owner.from_cookie):
        set_cookie(response, owner, request.is_secure)
    return response


URL_FIELDS = ("original_url", "view_url", "edges_url")


def _public(metadata: Metadata) -> Metadata:
    """Metadata as clients see it: the owner digest stays on the server, and each image URL
    is one the browser can fetch now (on S3, signed for this answer)."""
    store = current_store()
    public = {name: value for name, value in metadata.items() if name != "owner"}
    for name in URL_FIELDS:
        if name in public:
            public[name] = store.readable_url(public[name])
    return public


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


def _check_quota(owner: Owner, upload_bytes: int, usage: Usage | None) -> None:
    """507 before any work when a new result would pass either per-owner limit. The bytes
    limit counts the upload as new even when its original is already stored (a re-run):
    near the limit that refuses a little early, and lets the owner past it by at most the
    new result's view, edge map and metadata (per upload in flight at once).

    `usage` is the owner's kept usage record (None when no limit is set), read with the
    duplicate lookup whatever the owner keeps; it may be ahead (canny.storage.usage), so
    a refusal is decided on a recount, never on it."""
    if usage is None:
        return
    if _quota_refusal(usage, upload_bytes) is not None:
        usage = current_store().recount(owner.digest)
    refusal = _quota_refusal(usage, upload_bytes)
    if refusal is not None:
        raise QuotaExceededError(refusal)


def _quota_refusal(usage: Usage, upload_bytes: int) -> str | None:
    """Why one more result of `upload_bytes` would pass a limit; None when it would not."""
    settings = current_settings()
    most = settings.owner_max_results
    if most and usage.results >= most:
        return (
            f"this owner key already has {most} results, the most one may keep"
            " (CANNY_OWNER_MAX_RESULTS); delete some (DELETE /api/images/<id>) to store new ones"
        )
    limit = settings.owner_max_bytes
    if limit and usage.bytes + upload_bytes > limit:
        return (
            f"this owner key's results would store more than {limit} bytes, the most one may"
            " keep (CANNY_OWNER_MAX_BYTES); delete some (DELETE /api/images/<id>) to store new"
            " ones"
        )
    return None


def _compute_and_store(
    owner: Owner,
    image_id: str,
    data: bytes,
    content_sha256: str,
    params: EdgeParams,
    header: ImageHeader,
    usage: Usage | None,
) -> Metadata:
    # Stored only after the run returned in time and before the request's deadline: an
    # upload answered with an error (by us, or by the gateway's timeout) is never found
    # stored later.
    _check_quota(owner, len(data), usage)
    displayable = header.format.browser_displayable
    runner = current_runner()
    deadline: float = g.deadline
    result = runner.run(data, params, header.pixel_cost, not displayable, deadline)
    if time.monotonic() > deadline:
        raise ServerBusyError("the upload was not done within its deadline; try again")
    for stage, seconds in result.stage_seconds.items():
        labelled(STAGE_SECONDS, stage).observe(seconds)
    extension = header.format.extension
    # Every parameter set of these bytes shares one stored original and view.
    content = content_id(owner.digest, content_sha256)
    original_url = f"/results/{content}.orig.{extension}"
    # ImageRecord's fields in its order, as a plain dict: every value is one this function
    # made or checked, so building and dumping the model on each upload validated nothing
    # (tests/unit/backend/test_request_fixed_cost.py holds the dict to the model). The
    # owner's digest is stored beside the record and never shown (see _public).
    metadata = {
        "id": image_id,
        "original_url": original_url,
        # What an <img> can show: the original itself, or its PNG rendition.
        "view_url": original_url if displayable else f"/results/{content}.view.png",
        "edges_url": f"/results/{image_id}.png",
        "width": result.width,
        "height": result.height,
        "params": params.as_dict(),
        "format": header.format.name,
        "created_at": created_now(),
        "owner": owner.digest,
    }
    current_store().save(metadata, data, extension, result.png, result.view_png)
    IMAGES_PROCESSED.inc()
    PIXELS_PROCESSED.inc(result.width * result.height)
    return metadata


@blueprint.post("")
@describe(
    form=UploadForm,
    resp=answers(
        HTTP_201=(UploadResult, "The result (computed now, or cached)"),
        **errors(
            HTTP_400="Not an image, a corrupt image, a missing file or bad params",
            HTTP_401=_INVALID_KEY,
            HTTP_403=_CROSS_ORIGIN,
            HTTP_413="More bytes than CANNY_MAX_UPLOAD_BYTES or pixels than CANNY_MAX_PIXELS",
            HTTP_415="Not multipart/form-data, or an image format that is not supported",
            HTTP_503=_STORAGE_UNAVAILABLE,
            HTTP_507=_NO_SPACE,
        ),
    ),
    security=OWNER_SECURITY,
    operation_id="uploadImage",
)
def upload_image() -> tuple[Response, int, dict[str, str]]:
    """Upload an image and compute its Canny edge map

    Answered from the owner's stored result of the same bytes and params if any."""
    started = time.perf_counter()
    settings = current_settings()
    owner: Owner = g.owner
    data, fields = _read_upload(settings.max_upload_bytes)
    params = parse_params(fields)
    body = _stored_or_computed(owner, data, params, lambda: read_header(data, settings.max_pixels))
    INPUT_BYTES.observe(len(data))
    return _created(body, started, owner)


def _stored_or_computed(
    owner: Owner, data: bytes, params: EdgeParams, header: Callable[[], ImageHeader]
) -> Metadata:
    """The owner's stored result of these bytes and params, else a new one; `cached` says
    which.

    A stored result means these exact bytes were accepted before, so a repeat skips the
    header check; only the pixel limit, which a restart may have lowered, is checked again.
    """
    # Hashed once: the id and the stored original's name both come from it (SHA-256 of a
    # 1080p JPEG is about 0.3 ms of the worker's CPU, docs/performance-levers.md).
    content_sha256 = hashlib.sha256(data).hexdigest()
    image_id = result_id(owner.digest, content_sha256, params)
    settings = current_settings()
    with_usage = bool(settings.owner_max_results or settings.owner_max_bytes)
    metadata, usage = current_store().load_for_upload(owner.digest, image_id, with_usage)
    if metadata is None:
        computed = _compute_and_store(
            owner, image_id, data, content_sha256, params, header(), usage
        )
        return {**computed, "cached": False}
    check_pixel_limit(metadata["width"], metadata["height"], settings.max_pixels)
    CACHE_HITS.inc()
    return {**metadata, "cached": True}


def _created(metadata: Metadata, started: float, owner: Owner) -> tuple[Response, int, dict]:
    """201 with the public record; a newly issued owner key comes back as `owner_key` (and
    as the cookie): the only time the server ever shows it."""
    body = {**_public(metadata), "elapsed_ms": round((time.perf_counter() - started) * 1000, 2)}
    if owner.issued:
        body["owner_key"] = owner.key
    return jsonify(body), 201, {"Location": f"/api/images/{metadata['id']}"}


def _limit_argument() -> int:
    raw = request.args.get("limit", str(LIST_LIMIT_DEFAULT))
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT_MAX:
        raise InvalidRequestError(f"limit must be an integer between 1 and {LIST_LIMIT_MAX}")
    return int(raw)


@blueprint.get("")
@describe(
    query=ListQuery,
    resp=answers(
        HTTP_200=(ImageList, "One page of results"),
        **errors(HTTP_400="Bad limit or cursor", HTTP_401=_INVALID_KEY),
    ),
    security=OWNER_SECURITY,
    operation_id="listImages",
)
def list_images() -> Response:
    """List the caller's results, newest first"""
    items, next_cursor = current_store().list(
        g.owner.digest, _limit_argument(), request.args.get("before")
    )
    return jsonify({"items": [_public(item) for item in items], "next": next_cursor})


@blueprint.get("/lookup")
@describe(
    query=LookupQuery,
    resp=answers(
        HTTP_200=(LookupResult, "The stored result, with cached: true"),
        **errors(
            HTTP_400="A malformed sha256 or bad params",
            HTTP_401=_INVALID_KEY,
            HTTP_404="The caller has no result for this file with these params",
        ),
    ),
    security=OWNER_SECURITY,
    operation_id="lookupImage",
)
def lookup_image() -> Response:
    """The caller's result for a file's SHA-256 and params, without uploading it

    The caller's result for a file known only by its SHA-256, so a client that hashed
    the file can show a result it already has without uploading the file again.

    The id is derived from the owner, the content hash and the params (result_id), so
    this is the same single read as GET /api/images/<id>; an unknown image, or one only
    someone else processed, is answered with the same 404.
    """
    content_sha256 = request.args.get("sha256", "")
    if SHA256_PATTERN.fullmatch(content_sha256) is None:
        raise InvalidRequestError("sha256 must be the file's SHA-256 as 64 lower-case hex digits")
    params = parse_params(request.args)
    owner: Owner = g.owner
    metadata = current_store().load(owner.digest, result_id(owner.digest, content_sha256, params))
    if metadata is None:
        raise NotFoundError("no processed image with this SHA-256 and these params")
    return jsonify({**_public(metadata), "cached": True})


@blueprint.get(f"/{ID_RULE}")
@describe(
    resp=answers(
        HTTP_200=(ImageRecord, "The result's metadata"),
        **errors(HTTP_401=_INVALID_KEY, HTTP_404=_NOT_FOUND),
    ),
    security=OWNER_SECURITY,
    operation_id="getImage",
)
def get_image(image_id: str) -> Response:
    """Metadata of one result"""
    metadata = current_store().load(g.owner.digest, image_id)
    if metadata is None:
        raise NotFoundError("no image with this id")
    return jsonify(_public(metadata))


@blueprint.delete(f"/{ID_RULE}")
@describe(
    resp=answers(
        HTTP_204=(None, "Deleted"),
        **errors(HTTP_401=_INVALID_KEY, HTTP_403=_CROSS_ORIGIN, HTTP_404=_NOT_FOUND),
    ),
    security=OWNER_SECURITY,
    operation_id="deleteImage",
)
def delete_image(image_id: str) -> tuple[str, int]:
    """Delete a result and all its files"""
    if not current_store().delete(g.owner.digest, image_id):
        raise NotFoundError("no image with this id")
    return "", 204


RERUN_FIELDS = frozenset(EdgeParams().as_dict())


def _only_params(fields: Mapping[str, str]) -> EdgeParams:
    """The params of a re-run or preview. Unknown names are refused rather than ignored:
    a misspelt `Low` would otherwise silently run with the default."""
    unknown = sorted(set(fields) - RERUN_FIELDS)
    if unknown:
        names = ", ".join(quoted(name) for name in unknown[:3])
        raise InvalidRequestError(f"unknown field(s): {names}; use {param_names()}")
    return parse_params(fields)


def _stored_original(owner: Owner, image_id: str) -> tuple[Metadata, bytes]:
    """The owner's record of `image_id` and its original's bytes, checked against the
    pixel limit, which a restart may have lowered since."""
    store = current_store()
    source = store.load(owner.digest, image_id)
    if source is None:
        raise NotFoundError("no image with this id")
    extension = FORMAT_BY_NAME[source["format"]].extension
    data = store.load_original(content_stem(source), extension)
    if data is None:
        raise NotFoundError("no image with this id")
    check_pixel_limit(source["width"], source["height"], current_settings().max_pixels)
    return source, data


@blueprint.post(f"/{ID_RULE}/rerun")
@describe(
    json=RerunFields,
    form=RerunFields,
    resp=answers(
        HTTP_201=(UploadResult, "The result (computed now, or cached), as an upload"),
        **errors(
            HTTP_400=(
                "Bad, unknown or repeated params, a JSON body that is not an object or nests"
                " too deep, a body over 4 KB or not UTF-8"
            ),
            HTTP_401=_INVALID_KEY,
            HTTP_403=_CROSS_ORIGIN,
            HTTP_404="No result with this id",
            HTTP_413="The stored original has more pixels than CANNY_MAX_PIXELS allows now",
            HTTP_415="A body that is neither JSON nor a urlencoded form",
            HTTP_503=_STORAGE_UNAVAILABLE,
            HTTP_507=_NO_SPACE,
        ),
    ),
    security=OWNER_SECURITY,
    operation_id="rerunImage",
)
def rerun_image(image_id: str) -> tuple[Response, int, dict[str, str]]:
    """Compute the edge map of a stored original again with other params

    Answers like an upload, without the client sending the original back. The source is
    looked up like any other read of an id, so only its owner may re-run it.
    """
    started = time.perf_counter()
    owner: Owner = g.owner
    _, data = _stored_original(owner, image_id)
    params = _only_params(rerun_fields(request))
    # The header is read again from the stored bytes: its sample size, not kept in the
    # metadata, sets the run's share of the pixel budget.
    max_pixels = current_settings().max_pixels
    body = _stored_or_computed(owner, data, params, lambda: read_header(data, max_pixels))
    return _created(body, started, owner)


@blueprint.get(f"/{ID_RULE}/preview.png")
@describe(
    query=RerunFields,
    resp=answers(
        HTTP_200=(None, "The edge map as PNG; nothing is stored"),
        **errors(
            HTTP_400="Bad or unknown params",
            HTTP_401=_INVALID_KEY,
            HTTP_404="No result with this id",
            HTTP_413="The stored original has more pixels than CANNY_MAX_PIXELS allows now",
            HTTP_503=_STORAGE_UNAVAILABLE,
        ),
    ),
    security=OWNER_SECURITY,
    operation_id="previewImage",
)
def preview_image(image_id: str) -> Response:
    """The edge map of a stored original with other params, computed and not stored

    What the upload page shows while a slider moves: a preview is never listed and
    leaves nothing behind (no record, no file), so a page closed before "Keep" has
    nothing to clean up. Keeping it is a re-run with the same params. A GET, safe and
    idempotent, so a superseded preview is simply dropped by the client.
    """
    _, data = _stored_original(g.owner, image_id)
    params = _only_params(unique_fields(list(request.args.items(multi=True))))
    header = read_header(data, current_settings().max_pixels)
    result = current_runner().run(data, params, header.pixel_cost, False, g.deadline)
    return Response(result.png, mimetype="image/png")
