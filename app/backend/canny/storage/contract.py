"""What every result store does, whatever it keeps results in: ids, order, cursor, interface.

Both stores keep the same objects per id, named as the gateway serves them at /results/:
`<id>.orig.<ext>` (the upload), `<id>.view.png` (a PNG rendition for formats browsers
cannot show), `<id>.png` (the edge map) and `<id>.json` (metadata, with the owner's
digest). Each also keeps a per-owner index written after those, so an id is visible only
once its images and metadata exist.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime
from typing import Any, Protocol

from canny.edge_params import EdgeParams
from canny.image_format import EXTENSIONS

ID_PATTERN = re.compile(r"[0-9a-f]{32}")
CURSOR_PATTERN = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{32}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
# Results per listing page: the default, and the most a client may ask for.
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Metadata = dict[str, Any]


def result_id(owner_digest: str, content_sha256: str, params: EdgeParams) -> str:
    """The id of one owner's result for these bytes and params: repeats are free, and
    nobody else can compute it.

    Keyed by the owner, so the same photo uploaded by two owners gets two ids and an id
    says nothing about whether someone else uploaded it. Made from the SHA-256 of the
    bytes rather than the bytes, so a client that hashed its file can look it up without
    sending it. Every field of the EdgeParams model goes in by name: a new parameter can never make
    two different runs share an id.
    """
    if SHA256_PATTERN.fullmatch(owner_digest) is None:
        raise ValueError("owner_digest must be a hex SHA-256")
    if SHA256_PATTERN.fullmatch(content_sha256) is None:
        raise ValueError("content_sha256 must be a hex SHA-256")
    fields = "".join(f"{name}={value!r}\n" for name, value in params.model_dump().items())
    message = f"canny-v2\nsha256={content_sha256}\n{fields}".encode()
    return hmac.new(bytes.fromhex(owner_digest), message, "sha256").hexdigest()[:32]


def is_valid_id(value: str) -> bool:
    return ID_PATTERN.fullmatch(value) is not None


def created_now() -> str:
    return datetime.now(UTC).strftime(CREATED_FORMAT)


def sort_key(metadata: Metadata) -> str:
    """Newest-first order and the pagination cursor: creation time, then id to break ties."""
    stamp = datetime.strptime(metadata["created_at"], CREATED_FORMAT)
    return f"{stamp.strftime('%Y%m%dT%H%M%S%f')}Z-{metadata['id']}"


def object_names(image_id: str) -> list[str]:
    """Every name a result with this id may have stored, metadata first: what a delete
    removes, in an order that unlists the id before its images go."""
    names = [f"{image_id}.json", f"{image_id}.png", f"{image_id}.view.png"]
    return names + [f"{image_id}.orig.{extension}" for extension in EXTENSIONS]


class ResultStore(Protocol):
    """The storage contract the API is written against (FileStore, S3Store).

    Errors: InsufficientStorageError when the store is full, StorageUnavailableError when
    it cannot be reached or answers with an error; the HTTP layer maps both.
    """

    def prepare(self) -> None:
        """Startup housekeeping; failing here is not fatal (/readyz reports it)."""

    def is_writable(self) -> bool:
        """Whether a save would succeed now: what /readyz reports."""

    def load(self, owner_digest: str, image_id: str) -> Metadata | None:
        """The owner's result with this id; None for unknown ids and others' results alike."""

    def load_original(self, image_id: str, extension: str) -> bytes | None:
        """The uploaded bytes of a stored result; None if they are gone."""

    def readable_url(self, path: str) -> str:
        """Where a browser fetches the stored image at `/results/<name>` through the gateway."""

    def save(
        self,
        metadata: Metadata,
        original: bytes,
        extension: str,
        edges_png: bytes,
        view_png: bytes | None = None,
    ) -> None:
        """Store every object of a result, the owner's index after the images and metadata."""

    def count(self, owner_digest: str, up_to: int) -> int:
        """How many results the owner has, counted no further than `up_to`."""

    def delete(self, owner_digest: str, image_id: str) -> bool:
        """Unlist, then remove every object; False when the owner has no such result."""

    def list(
        self, owner_digest: str, limit: int, before: str | None = None
    ) -> tuple[list[Metadata], str | None]:
        """The owner's results newest first, and the cursor of the next page (or None)."""
