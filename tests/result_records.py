"""Result records as the stores keep them, shared by the unit tests of the file store and
the contract tests every store passes: one shape, so a change to the record is made once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from canny.edge_params import EdgeParams
from canny.storage import created_now, result_id
from canny.storage.contract import content_id

OWNER = "1" * 64
OTHER_OWNER = "2" * 64


def result_record(
    image_id: str, *, owner: str = OWNER, created_at: str | None = None
) -> dict[str, object]:
    """The record of a 1x1 PNG result with the default parameters."""
    return {
        "id": image_id,
        "owner": owner,
        "original_url": f"/results/{image_id}.orig.png",
        "edges_url": f"/results/{image_id}.png",
        "width": 1,
        "height": 1,
        "params": EdgeParams().as_dict(),
        "format": "png",
        "created_at": created_at or created_now(),
    }


def numbered_record(
    index: int, *, owner: str = OWNER, created_at: str | None = None
) -> dict[str, object]:
    """A record whose id is derived the way uploads derive theirs, from a made-up content
    hash numbered `index`: distinct indexes, distinct ids."""
    image_id = result_id(owner, f"{index:064x}", EdgeParams())
    return result_record(image_id, owner=owner, created_at=created_at)


def shared_record(low: int, *, owner: str = OWNER, content_index: int = 0) -> dict[str, object]:
    """The record of one parameter set (`low`) of a made-up TIFF numbered `content_index`,
    laid out as uploads store it now: its original and view under the content's name."""
    content_sha256 = f"{content_index:064x}"
    params = EdgeParams(low=low, high=max(low, EdgeParams().high))
    image_id = result_id(owner, content_sha256, params)
    content = content_id(owner, content_sha256)
    return {
        **result_record(image_id, owner=owner),
        "original_url": f"/results/{content}.orig.tiff",
        "view_url": f"/results/{content}.view.png",
        "params": params.as_dict(),
        "format": "tiff",
    }


def stamp(seconds: int) -> str:
    """A creation time `seconds` after a fixed moment, in the records' format."""
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
