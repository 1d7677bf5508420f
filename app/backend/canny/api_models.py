"""The API's requests and answers as pydantic models: what the OpenAPI document is
generated from (canny.openapi), and how the record and the config answer are built.

Request models here only describe: the handlers parse with `parse_params` (the same
EdgeParams model) and the streaming multipart parser, never by re-reading a body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from canny.edge_params import EdgeParams
from canny.image_format import ACCEPTED_FORMATS, EXTENSIONS
from canny.owner_keys import KEY_PATTERN
from canny.storage.contract import (
    CURSOR_PATTERN,
    ID_PATTERN,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    SHA256_PATTERN,
)

FORMAT_NAMES = tuple(image_format.name for image_format in ACCEPTED_FORMATS)
_ORIGINAL = rf"[0-9a-f]{{32}}\.orig\.({'|'.join(EXTENSIONS)})"


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default")


def absent_unless_set(description: str) -> Any:
    """A field left out of the answer when unset: `None` in Python, no `null` and no
    default in the document (the recipe of
    https://docs.pydantic.dev/latest/concepts/json_schema/, SkipJsonSchema)."""
    return Field(None, json_schema_extra=_no_default, description=description)


ImageId = Annotated[str, Field(pattern=f"^{ID_PATTERN.pattern}$")]
# On S3 storage an answer's image URL carries its presigned GET as the query
# (S3Store.readable_url); stored records and the file store's URLs have none.
SIGNED_QUERY = r"(\?[A-Za-z0-9%=&._~-]+)?"
FormatName = Literal[FORMAT_NAMES]  # type: ignore[valid-type]


class ImageRecord(BaseModel):
    """One result as clients see it (the stored metadata without the owner's digest)."""

    id: ImageId
    original_url: str = Field(pattern=f"^/results/{_ORIGINAL}{SIGNED_QUERY}$")
    # Absent in results stored before renditions existed.
    view_url: (
        SkipJsonSchema[None]
        | Annotated[
            str, Field(pattern=rf"^/results/([0-9a-f]{{32}}\.view\.png|{_ORIGINAL}){SIGNED_QUERY}$")
        ]
    ) = absent_unless_set(
        "what a browser can show: original_url, or a PNG rendition of"
        " originals browsers do not display (TIFF)",
    )
    edges_url: str = Field(pattern=rf"^/results/[0-9a-f]{{32}}\.png{SIGNED_QUERY}$")
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    params: EdgeParams
    format: FormatName
    created_at: str = Field(json_schema_extra={"format": "date-time"})


class UploadResult(ImageRecord):
    cached: bool = Field(description="true when the same bytes and params were processed before")
    elapsed_ms: float = Field(ge=0)
    owner_key: SkipJsonSchema[None] | Annotated[str, Field(pattern=f"^{KEY_PATTERN.pattern}$")] = (
        absent_unless_set(
            "only when this upload issued a new owner key: keep it (the page has "
            "it as a cookie; scripts send it as Authorization: Bearer)",
        )
    )


class LookupResult(ImageRecord):
    cached: Literal[True]


class ImageList(BaseModel):
    items: list[ImageRecord]
    next: str | None = Field(description="cursor for the next page; null on the last page")


class UploadForm(EdgeParams):
    """The upload's multipart form: the image and the optional params."""

    file: bytes = Field(description="JPEG, PNG, WebP, BMP or TIFF, detected from the bytes")


class RerunFields(EdgeParams):
    """New params for a stored original; a name that is not a param is refused."""

    model_config = ConfigDict(extra="forbid")


class LookupQuery(EdgeParams):
    sha256: str = Field(
        pattern=f"^{SHA256_PATTERN.pattern}$",
        description="SHA-256 of the file's bytes, lower-case hex",
    )


class ListQuery(BaseModel):
    limit: int = Field(LIST_LIMIT_DEFAULT, ge=1, le=LIST_LIMIT_MAX)
    before: SkipJsonSchema[None] | Annotated[str, Field(pattern=f"^{CURSOR_PATTERN.pattern}$")] = (
        absent_unless_set("the `next` cursor of the previous page")
    )


class ParamRange(BaseModel):
    min: int
    max: int
    default: int
    label: str = Field(description="the control's label on the upload page")
    hint: str = Field(description="what the parameter does, shown under the control")
    odd: SkipJsonSchema[None] | bool = absent_unless_set("only odd values are allowed")


# One range per field of EdgeParams: a new parameter appears here without an edit.
ParamRanges = create_model(
    "ParamRanges", **{name: (ParamRange, ...) for name in EdgeParams.model_fields}
)


class ClientConfig(BaseModel):
    """Upload limits, accepted formats and parameter ranges for clients."""

    max_upload_bytes: int = Field(ge=1)
    max_pixels: int = Field(ge=1)
    formats: list[FormatName]
    params: ParamRanges  # type: ignore[valid-type]


class Status(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """What every failure answers, documented once for every route."""

    error: ErrorDetail
