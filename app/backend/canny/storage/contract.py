"""What every result store does, whatever it keeps results in: ids, order, cursor, interface.

Both stores keep the same objects, named as the gateway serves them at /results/. Per
result: `<id>.png` (the edge map) and `<id>.json` (metadata, with the owner's digest). Per
owner and content (one upload's bytes, whatever its params): `<content>.orig.<ext>` (the
upload) and `<content>.view.png` (a PNG rendition for formats browsers cannot show), where
`<content>` is content_id(owner, sha256): every re-run of one file shares them. Results
stored before that layout have their own `<id>.orig.<ext>` / `<id>.view.png`; the record's
URLs say which, so both are read alike. Each store also keeps a per-owner index written
after those, so an id is visible only once its images and metadata exist, and per-owner
references (`refs/<content>/<id>.<own bytes>.<content bytes>`) from which it decides when
shared objects go and how many bytes an owner holds.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from canny.edge_params import EdgeParams
from canny.image_format import EXTENSIONS

if TYPE_CHECKING:
    # usage.py builds on Reference, defined here.
    from canny.storage.usage import Usage

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


def content_id(owner_digest: str, content_sha256: str) -> str:
    """The name of one owner's stored copy of these bytes: like result_id without the params,
    so every parameter set of one upload shares one original and one view, and like it
    keyed by the owner, so nobody else can name (or fetch) that owner's copy."""
    if SHA256_PATTERN.fullmatch(owner_digest) is None:
        raise ValueError("owner_digest must be a hex SHA-256")
    if SHA256_PATTERN.fullmatch(content_sha256) is None:
        raise ValueError("content_sha256 must be a hex SHA-256")
    message = f"canny-content-v1\nsha256={content_sha256}\n".encode()
    return hmac.new(bytes.fromhex(owner_digest), message, "sha256").hexdigest()[:32]


def content_stem(metadata: Metadata) -> str:
    """The name its original is stored under: a content id, or for a result stored before
    originals were shared, its own id (then it shares nothing)."""
    stem = str(metadata["original_url"]).removeprefix("/results/").split(".", 1)[0]
    if not is_valid_id(stem):
        raise ValueError(f"not a stored original's URL: {metadata['original_url']!r}")
    return stem


def shares_content(metadata: Metadata) -> bool:
    return content_stem(metadata) != metadata["id"]


def content_names(stem: str) -> list[str]:
    """Every name a shared original and its view may have."""
    return [f"{stem}.view.png"] + [f"{stem}.orig.{extension}" for extension in EXTENSIONS]


@dataclass(frozen=True)
class Reference:
    """One result's claim on its shared content, and the bytes each side stores: kept in
    the reference's name, so an owner's usage is one listing, with no object read."""

    content: str
    image_id: str
    own_bytes: int
    content_bytes: int

    @property
    def leaf(self) -> str:
        return f"{self.image_id}.{self.own_bytes}.{self.content_bytes}"

    @classmethod
    def parse(cls, content: str, leaf: str) -> Reference | None:
        """The reference a stored name spells; None for anything else (a temp file)."""
        match = _REFERENCE_LEAF.fullmatch(leaf)
        if match is None or not is_valid_id(content):
            return None
        return cls(content, match[1], int(match[2]), int(match[3]))


_REFERENCE_LEAF = re.compile(r"([0-9a-f]{32})\.(\d{1,15})\.(\d{1,15})")


def reference_of(
    metadata: Metadata, original: bytes, edges_png: bytes, view_png: bytes | None
) -> Reference:
    """What a save of these objects adds to its owner: the result's own edge map and
    metadata, and the shared original and view (counted once per content, see bytes_used)."""
    own = len(edges_png) + len(json.dumps(metadata).encode())
    shared = len(original) + (len(view_png) if view_png is not None else 0)
    return Reference(content_stem(metadata), metadata["id"], own, shared)


def bytes_used(references: Iterable[Reference]) -> int:
    """An owner's stored bytes: every result's own objects, each shared content once."""
    contents: dict[str, int] = {}
    own = 0
    for reference in references:
        own += reference.own_bytes
        contents[reference.content] = reference.content_bytes
    return own + sum(contents.values())


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

    def load_for_upload(
        self, owner_digest: str, image_id: str, with_usage: bool
    ) -> tuple[Metadata | None, Usage | None]:
        """What an upload looks up before computing: the owner's result with this id, and
        when there is none and `with_usage`, the owner's usage (as `usage` gives it)."""

    def load_original(self, stem: str, extension: str) -> bytes | None:
        """The uploaded bytes stored under `stem` (contract.content_stem of the result's
        record); None if they are gone."""

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

    def bytes_used(self, owner_digest: str) -> int:
        """The bytes the owner's results store, each shared original and view once
        (results stored before originals were shared are not counted)."""

    def usage(self, owner_digest: str) -> Usage:
        """The owner's kept usage record (see canny.storage.usage: a hint that may be
        ahead or a little behind), recounted first when missing, unreadable or stale."""

    def recount(self, owner_digest: str) -> Usage:
        """The owner's usage counted from its index and references, kept as its record."""

    def delete(self, owner_digest: str, image_id: str) -> bool:
        """Unlist, then remove every object; False when the owner has no such result."""

    def list(
        self, owner_digest: str, limit: int, before: str | None = None
    ) -> tuple[list[Metadata], str | None]:
        """The owner's results newest first, and the cursor of the next page (or None)."""
