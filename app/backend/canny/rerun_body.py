"""The re-run's body: the edge parameters as a JSON object or a urlencoded form.

Parsed here rather than by werkzeug, because werkzeug's parsers let hostile bodies through
in ways that matter: `get_json` lets a body nested 1,000 deep raise RecursionError (a 500),
form parsing decodes invalid UTF-8 with replacement characters (a latin-1 body silently ran
with the defaults), and both keep one of two duplicate fields (JSON the last, multipart the
first). Here every such body is a 400 with a reason, the same rule as the upload form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import parse_qsl

from flask import Request

from canny.client_text import quoted
from canny.edge_params import param_names
from canny.errors import InvalidRequestError, UnsupportedMediaTypeError

# A few short fields fit in well under 1 KB; the rest is room for whitespace.
MAX_BODY_BYTES = 4096
# An object of scalars is depth 1; json.loads recurses once per level, so a depth check
# before parsing is what keeps deep nesting from reaching the interpreter's recursion limit.
MAX_JSON_DEPTH = 4
# A JSON string, escapes included, so brackets inside strings are not counted as nesting.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_FORM = "application/x-www-form-urlencoded"
Value = TypeVar("Value")


def rerun_fields(request: Request) -> dict[str, str]:
    """The body's fields as text for `parse_params`; an empty body means no fields.

    JSON numbers keep the spelling the client sent (`1e2` stays `1e2`, so an error quotes
    what was sent), and other scalars their JSON spelling, so `true` or `2.5` fail the
    integer check with the message a form field would get. Names are checked by the
    caller, as for a preview's query.
    """
    if request.is_json:
        fields = _json_fields(_body(request))
    elif request.mimetype == _FORM:
        fields = _form_fields(_body(request))
    elif request.content_length:
        raise UnsupportedMediaTypeError(f"send {param_names()} as JSON or a urlencoded form")
    else:
        fields = {}
    return fields


def _body(request: Request) -> str:
    """The body as UTF-8 text, at most MAX_BODY_BYTES; JSON is UTF-8 only (RFC 8259
    section 8.1) and so is the form this API documents, so another charset is refused."""
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaTypeError(f"charset {quoted(charset)} is not supported; send UTF-8")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise InvalidRequestError(f"the body is over {MAX_BODY_BYTES} bytes")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequestError(f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("the body is not UTF-8 text") from None


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw`, brackets inside strings not counted."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b'""', raw):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def unique_fields(pairs: list[tuple[str, Value]]) -> dict[str, Value]:
    """The one rule for repeated fields, here and for a preview's query: refused."""
    names = [name for name, _ in pairs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidRequestError(f"field {quoted(duplicates[0])} is given more than once")
    return dict(pairs)


def _json_fields(text: str) -> dict[str, str]:
    if json_depth(text.encode()) > MAX_JSON_DEPTH:
        raise InvalidRequestError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(
            text,
            object_pairs_hook=unique_fields,
            parse_int=str,
            parse_float=str,
            parse_constant=str,
        )
    except ValueError as error:  # JSONDecodeError is a ValueError
        raise InvalidRequestError(f"the body is not valid JSON: {error}") from None
    if not isinstance(body, Mapping):
        raise InvalidRequestError(f"the JSON body must be an object with {param_names()}")
    fields = {}
    for name, value in body.items():
        if isinstance(value, (Mapping, list)):
            raise InvalidRequestError(f"field {quoted(name)} must be a number or a string")
        fields[name] = value if isinstance(value, str) else json.dumps(value)
    return fields


def _form_fields(text: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRequestError(f"malformed urlencoded form: {error}") from None
    return {name: str(value) for name, value in unique_fields(list(pairs)).items()}
