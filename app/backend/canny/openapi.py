"""The OpenAPI 3 document served at /api/openapi.json: the contract the frontend,
gateway, smoke test and benchmark rely on, and what schemathesis checks the server against.
"""

from __future__ import annotations

from typing import Any

from canny.edge_params import BLUR_MAX, BLUR_MIN, THRESHOLD_MAX, THRESHOLD_MIN, EdgeParams
from canny.image_format import ACCEPTED_FORMATS, EXTENSIONS
from canny.images_api import CONTENT_SHA256_PATTERN, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX
from canny.owner_keys import COOKIE_NAME, KEY_PATTERN
from canny.storage import CURSOR_PATTERN, ID_PATTERN

_DEFAULTS = EdgeParams()
# On S3 storage a result URL carries its presigned GET as the query (S3Store.readable_url).
SIGNED_QUERY = r"(\?[A-Za-z0-9%=&._~-]+)?"
FORMAT_NAMES = tuple(image_format.name for image_format in ACCEPTED_FORMATS)
ACCEPTED_MEDIA_TYPES = tuple(image_format.media_type for image_format in ACCEPTED_FORMATS)


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


# The result store (a bucket) cannot be reached or fails: code `storage_unavailable`.
_STORAGE_UNAVAILABLE = _error("The result store is unreachable or failing; try again later")


def _json(description: str, schema_name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


# Either way of sending the owner key, or none: a call without a key gets a new one.
# https://spec.openapis.org/oas/v3.0.3#security-requirement-object ("{}" makes it optional)
_OWNER_SECURITY = [{"ownerBearer": []}, {"ownerCookie": []}, {}]

_SECURITY_SCHEMES = {
    "ownerBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the owner key, for scripts: the `owner_key` of the first upload",
    },
    "ownerCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE_NAME,
        "description": "the owner key, set by the API (HttpOnly, SameSite=Lax) on first use",
    },
}

_IMAGE_ID = {
    "name": "image_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"},
}

_PARAMS_SCHEMA = {
    "type": "object",
    "required": ["low", "high", "blur"],
    "properties": {
        "low": {"type": "integer", "minimum": THRESHOLD_MIN, "maximum": THRESHOLD_MAX},
        "high": {"type": "integer", "minimum": THRESHOLD_MIN, "maximum": THRESHOLD_MAX},
        "blur": {"type": "integer", "minimum": BLUR_MIN, "maximum": BLUR_MAX},
    },
}

_IMAGE_SCHEMA = {
    "type": "object",
    "required": [
        "id",
        "original_url",
        "edges_url",
        "width",
        "height",
        "params",
        "format",
        "created_at",
    ],
    "properties": {
        "id": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"},
        "original_url": {
            "type": "string",
            "pattern": rf"^/results/[0-9a-f]{{32}}\.orig\.({'|'.join(EXTENSIONS)}){SIGNED_QUERY}$",
        },
        "view_url": {
            "type": "string",
            "description": "what a browser can show: original_url, or a PNG rendition of"
            " originals browsers do not display (TIFF)",
            "pattern": rf"^/results/[0-9a-f]{{32}}\.(view\.png|orig\.({'|'.join(EXTENSIONS)}))"
            rf"{SIGNED_QUERY}$",
        },
        "edges_url": {
            "type": "string",
            "pattern": rf"^/results/[0-9a-f]{{32}}\.png{SIGNED_QUERY}$",
        },
        "width": {"type": "integer", "minimum": 1},
        "height": {"type": "integer", "minimum": 1},
        "params": {"$ref": "#/components/schemas/Params"},
        "format": {
            "type": "string",
            "enum": [image_format.name for image_format in ACCEPTED_FORMATS],
        },
        "created_at": {"type": "string", "format": "date-time"},
    },
}

_UPLOAD_SCHEMA = {
    "allOf": [
        {"$ref": "#/components/schemas/Image"},
        {
            "type": "object",
            "required": ["cached", "elapsed_ms"],
            "properties": {
                "cached": {
                    "type": "boolean",
                    "description": "true when the same bytes and params were processed before",
                },
                "elapsed_ms": {"type": "number", "minimum": 0},
                "owner_key": {
                    "type": "string",
                    "pattern": f"^{KEY_PATTERN.pattern}$",
                    "description": "only when this upload issued a new owner key: keep it "
                    "(the page has it as a cookie; scripts send it as Authorization: Bearer)",
                },
            },
        },
    ]
}

_LOOKUP_SCHEMA = {
    "allOf": [
        {"$ref": "#/components/schemas/Image"},
        {
            "type": "object",
            "required": ["cached"],
            "properties": {"cached": {"type": "boolean", "enum": [True]}},
        },
    ]
}

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

_UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "JPEG, PNG, WebP, BMP or TIFF, detected from the bytes",
        },
        "low": {
            "type": "integer",
            "minimum": THRESHOLD_MIN,
            "maximum": THRESHOLD_MAX,
            "default": _DEFAULTS.low,
        },
        "high": {
            "type": "integer",
            "minimum": THRESHOLD_MIN,
            "maximum": THRESHOLD_MAX,
            "default": _DEFAULTS.high,
            "description": "must be >= low",
        },
        "blur": {
            "type": "integer",
            "enum": list(range(BLUR_MIN, BLUR_MAX + 1, 2)),
            "default": _DEFAULTS.blur,
            "description": "odd Gaussian kernel size",
        },
    },
}


_INVALID_KEY = _error("A malformed owner key (Authorization: Bearer or the cookie)")


def _upload_operation() -> dict[str, Any]:
    return {
        "operationId": "uploadImage",
        "security": _OWNER_SECURITY,
        "summary": "Upload an image and compute its Canny edge map",
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": _UPLOAD_FORM,
                    "encoding": {"file": {"contentType": ", ".join(ACCEPTED_MEDIA_TYPES)}},
                }
            },
        },
        "responses": {
            "201": _json("The result (computed now, or cached)", "UploadResult"),
            "400": _error("Not an image, a corrupt image, a missing file or bad params"),
            "401": _INVALID_KEY,
            "413": _error("More bytes than CANNY_MAX_UPLOAD_BYTES or pixels than CANNY_MAX_PIXELS"),
            "415": _error("Not multipart/form-data, or an image format that is not supported"),
            "507": _error("No space left to store the result"),
            "503": _STORAGE_UNAVAILABLE,
        },
    }


_RERUN_FIELDS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {name: _UPLOAD_FORM["properties"][name] for name in ("low", "high", "blur")},
}


def _rerun_operation() -> dict[str, Any]:
    return {
        "operationId": "rerunImage",
        "summary": "Compute the edge map of a stored original again with other params",
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": _RERUN_FIELDS},
                "application/x-www-form-urlencoded": {"schema": _RERUN_FIELDS},
            },
        },
        "responses": {
            "201": _json("The result (computed now, or cached), as an upload", "UploadResult"),
            "400": _error("Bad or unknown params, or a JSON body that is not an object"),
            "404": _error("No result with this id"),
            "415": _error("A body that is neither JSON nor a urlencoded form"),
            "413": _error("The stored original has more pixels than CANNY_MAX_PIXELS allows now"),
            "507": _error("No space left to store the result"),
            "503": _STORAGE_UNAVAILABLE,
        },
    }


_RANGE_SCHEMA = {
    "type": "object",
    "required": ["min", "max", "default"],
    "properties": {
        "min": {"type": "integer"},
        "max": {"type": "integer"},
        "default": {"type": "integer"},
        "odd": {"type": "boolean", "description": "only odd values are allowed"},
    },
}

_CONFIG_SCHEMA = {
    "type": "object",
    "required": ["max_upload_bytes", "max_pixels", "formats", "params"],
    "properties": {
        "max_upload_bytes": {"type": "integer", "minimum": 1},
        "max_pixels": {"type": "integer", "minimum": 1},
        "formats": {"type": "array", "items": {"type": "string", "enum": list(FORMAT_NAMES)}},
        "params": {
            "type": "object",
            "required": ["low", "high", "blur"],
            "properties": {name: _RANGE_SCHEMA for name in ("low", "high", "blur")},
        },
    },
}


def _list_operation() -> dict[str, Any]:
    return {
        "operationId": "listImages",
        "security": _OWNER_SECURITY,
        "summary": "List the caller's results, newest first",
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": LIST_LIMIT_MAX,
                    "default": LIST_LIMIT_DEFAULT,
                },
            },
            {
                "name": "before",
                "in": "query",
                "description": "the `next` cursor of the previous page",
                "schema": {"type": "string", "pattern": f"^{CURSOR_PATTERN.pattern}$"},
            },
        ],
        "responses": {
            "200": _json("One page of results", "ImageList"),
            "400": _error("Bad limit or cursor"),
            "401": _INVALID_KEY,
        },
    }


def _lookup_operation() -> dict[str, Any]:
    params = [
        {"name": name, "in": "query", "schema": _UPLOAD_FORM["properties"][name]}
        for name in ("low", "high", "blur")
    ]
    return {
        "operationId": "lookupImage",
        "security": _OWNER_SECURITY,
        "summary": "The caller's result for a file's SHA-256 and params, without uploading it",
        "parameters": [
            {
                "name": "sha256",
                "in": "query",
                "required": True,
                "description": "SHA-256 of the file's bytes, lower-case hex",
                "schema": {"type": "string", "pattern": f"^{CONTENT_SHA256_PATTERN.pattern}$"},
            },
            *params,
        ],
        "responses": {
            "200": _json("The stored result, with cached: true", "LookupResult"),
            "400": _error("A malformed sha256 or bad params"),
            "401": _INVALID_KEY,
            "404": _error("The caller has no result for this file with these params"),
        },
    }


def _health(summary: str, failure: str | None) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"type": "string"}},
                    }
                }
            },
        }
    }
    if failure:
        responses["503"] = _error(failure)
    return {"get": {"summary": summary, "responses": responses}}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "canny-platform backend",
            "version": "1.0.0",
            "description": "Canny edge detection. Every error is JSON {error: {code, message}}.",
        },
        "paths": {
            "/api/images": {"post": _upload_operation(), "get": _list_operation()},
            "/api/images/lookup": {"get": _lookup_operation()},
            "/api/images/{image_id}": {
                "parameters": [_IMAGE_ID],
                "get": {
                    "operationId": "getImage",
                    "security": _OWNER_SECURITY,
                    "summary": "Metadata of one result",
                    "responses": {
                        "200": _json("The result's metadata", "Image"),
                        "401": _INVALID_KEY,
                        "404": _error("No result of the caller's with this id"),
                    },
                },
                "delete": {
                    "operationId": "deleteImage",
                    "security": _OWNER_SECURITY,
                    "summary": "Delete a result and all its files",
                    "responses": {
                        "204": {"description": "Deleted"},
                        "401": _INVALID_KEY,
                        "404": _error("No result of the caller's with this id"),
                    },
                },
            },
            "/api/images/{image_id}/rerun": {
                "parameters": [_IMAGE_ID],
                "post": _rerun_operation(),
            },
            "/api/config": {
                "get": {
                    "operationId": "getConfig",
                    "summary": "Upload limits, accepted formats and parameter ranges for clients",
                    "responses": {"200": _json("Limits and ranges", "Config")},
                }
            },
            "/healthz": _health("Liveness: the process answers", None),
            "/readyz": _health("Readiness: the results directory is writable", "Not ready"),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of all workers",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Params": _PARAMS_SCHEMA,
                "Image": _IMAGE_SCHEMA,
                "UploadResult": _UPLOAD_SCHEMA,
                "LookupResult": _LOOKUP_SCHEMA,
                "ImageList": {
                    "type": "object",
                    "required": ["items", "next"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Image"}},
                        "next": {
                            "type": "string",
                            "nullable": True,
                            "description": "cursor for the next page; null on the last page",
                        },
                    },
                },
                "Error": _ERROR_SCHEMA,
                "Config": _CONFIG_SCHEMA,
            },
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }
