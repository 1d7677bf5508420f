"""Results in an S3 bucket (DigitalOcean Spaces in prod), so every droplet serves every result.

Objects per id, named as the gateway serves them: `<id>.png`, `<id>.json`; per owner and
content, shared by every result of one file: `<content>.orig.<ext>`, `<content>.view.png`
(results stored before that: `<id>.orig.<ext>`, `<id>.view.png`). Per owner, an empty
reference per result that uses a content, `owners/<digest>/refs/<content>/<reference>`
(contract.Reference), written first, and two small copies of the metadata written last:
`owners/<digest>/newest/<inverted sort key>.json` (the listing index), then
`owners/<digest>/ids/<id>.json` (get by id: one GET). S3 lists keys in ascending UTF-8
order (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html), so the
sort key's characters are inverted (0<->f, 1<->e, ...): ascending index keys are newest
first, and a page is ONE ListObjectsV2 (Prefix, MaxKeys, StartAfter = the inverted
cursor) plus one GET per item on it, whatever the number of stored results.

A delete removes shared content when a listing of its references finds none left. S3 has
no lock, so a save of the same file racing that delete is covered by order alone: the
save writes its reference before it PUTs the content (every save PUTs it, which also
restarts its lifecycle expiry), and S3 lists what was written before the list began
(strong read-after-write consistency for LIST,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel; we
found no statement of Spaces' consistency model, and assume it does the same).
A save whose reference lands after the delete's listing could still PUT its content just
before the delete's DELETE, so the delete first copies the content aside (server side),
deletes it, lists the references again, and puts the copy back if one appeared: a
reference landing after that second listing belongs to a save whose content PUT comes
later still. A delete cut short in between leaves the copy under `owners/<digest>/held/`,
which the bucket's lifecycle rule (CANNY_RETENTION_DAYS) expires.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from canny.errors import InvalidRequestError, StorageUnavailableError
from canny.image_format import ACCEPTED_FORMATS, EXTENSIONS
from canny.storage.contract import (
    CURSOR_PATTERN,
    LIST_LIMIT_DEFAULT,
    SHA256_PATTERN,
    Metadata,
    Reference,
    bytes_used,
    content_names,
    content_stem,
    is_valid_id,
    object_names,
    reference_of,
    shares_content,
    sort_key,
)
from canny.storage.usage import COUNTED_RESULTS_MAX, RECORD_NAME, Usage

OWNERS_PREFIX = "owners"
READY_PROBE_KEY = "readiness/probe"
# The same header the gateway gives files from disk: one owner's data, never in a shared cache.
RESULT_CACHE_CONTROL = "private, max-age=31536000, immutable"
_MEDIA_TYPES = {f"orig.{f.extension}": f.media_type for f in ACCEPTED_FORMATS}
_JSON = {"ContentType": "application/json"}
# No object ACLs: every object stays private, and a client reads an image through a
# presigned GET (`readable_url`) that the gateway's /results/ passes to the bucket as it is.
# The backends' Spaces key is limited to `readwrite` on this one bucket, and whether such a
# key may set object ACLs (x-amz-acl, PutObjectAcl) is documented nowhere: its description
# names reading, writing and deleting objects only
# (https://docs.digitalocean.com/products/spaces/how-to/manage-access/). A bucket policy
# granting anonymous reads is no way out either: "Limited-access Spaces keys aren't
# compatible with PutBucketPolicy" and a bucket with a policy gets no limited key
# (https://docs.digitalocean.com/products/spaces/how-to/configure-bucket-policies/).
# Presigned URLs (SigV4) are supported by Spaces
# (https://docs.digitalocean.com/products/spaces/reference/s3-compatibility/) and need only
# the key's permission to read the object.
_IMAGE = {"CacheControl": RESULT_CACHE_CONTROL}
log = logging.getLogger(__name__)
# SigV4 query signatures are valid for at most seven days
# (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html): longer than
# any page stays open.
URL_LIFETIME_SECONDS = 7 * 24 * 3600
# A signed URL is handed out again for this long, so it is still valid for six days and
# 23 hours when a client gets it; the cache holds a few pages of every recent gallery.
SIGNED_URL_REUSE_SECONDS = 3600
SIGNED_URL_CACHE_SIZE = 4096
RESULTS_PATH = "/results/"
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
# Character-wise inversion within [0-9a-f] (0<->f, 1<->e, ..., 9<->6, a<->5): it reverses
# the order of each position and is its own inverse; `T`, `Z` and `-` stay in place.
_INVERT = str.maketrans("0123456789abcdef", "fedcba9876543210")
# Parallel GETs of one page's index objects: a default page costs the same number of
# requests in two round trips, the LIST and one wave of GETs.
_PAGE_FETCHERS = LIST_LIMIT_DEFAULT
# The store's threads for requests sent together (a page's GETs, a save's PUTs, an
# upload's two reads), kept for its life: starting a page's 20 threads anew cost more
# than its requests (60 of a page's 110 ms on loopback, docs/performance.md). Room for
# two default pages at once, as many as the connection pool keeps.
_SENDERS = _PAGE_FETCHERS * 2
# Index entries kept in memory once read: about 400 bytes each, a hundred owners' first
# pages per worker.
INDEX_CACHE_SIZE = 2048


def inverted(cursor: str) -> str:
    """A key that sorts ascending where `cursor` sorts descending (its own inverse)."""
    return cursor.translate(_INVERT)


def client_config(endpoint_url: str | None) -> Config:
    """Short timeouts and few retries: an upload waiting on a dead store should fail fast
    with 503, not hold a worker for botocore's 60 s defaults
    (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/configuration.html).
    Checksums only when an operation requires them: boto3 >= 1.36 adds CRC checksums by
    default, which S3-compatible stores may refuse
    (https://gitlab.com/gitlab-org/gitlab-runner/-/merge_requests/6691). Path-style
    addressing for a custom endpoint (Spaces accepts both; emulators only path-style).
    SigV4 always, presigned URLs included: botocore would presign with SigV2 in some
    regions (us-east-1), whose query the URL lifetime and tests below do not describe
    (https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html)."""
    return Config(
        signature_version="s3v4",
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=_SENDERS,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )


@contextlib.contextmanager
def _store_errors(action: str) -> Iterator[None]:
    """botocore's errors as the contract's: the store cannot be reached or refused."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        raise StorageUnavailableError(f"the result store refused to {action} ({code})") from error
    except BotoCoreError as error:
        raise StorageUnavailableError(f"the result store is unreachable ({action})") from error


def _send_body_with_headers(request: Any, **_: Any) -> None:
    """A PutObject without `Expect: 100-continue`: one round trip per PUT, not two.

    botocore asks for it on every file-like body "regardless of size" (add_expect_header
    in botocore/handlers.py; bytes bodies are wrapped in BytesIO first) and then waits,
    up to a second, for the store's `100 Continue` before it sends the body
    (AWSConnection._send_output in botocore/awsrequest.py): a whole extra round trip to a
    bucket tens of milliseconds away. The header only saves sending a body the store will
    refuse (https://www.rfc-editor.org/rfc/rfc9110#section-10.1.1), and ours are at most
    one upload's size. Removed before signing, so the signature never covers it."""
    del request.headers["Expect"]


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _NOT_FOUND


@dataclass(frozen=True)
class StoredObject:
    key: str
    body: bytes
    # put_object's ContentType / CacheControl for this object.
    headers: dict[str, str]


class S3Store:
    def __init__(self, bucket: str, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.bucket = bucket
        self.client = client
        client.meta.events.register("before-sign.s3.PutObject", _send_body_with_headers)
        self.clock = clock
        self._signed = functools.lru_cache(maxsize=SIGNED_URL_CACHE_SIZE)(self._sign)
        self._senders = ThreadPoolExecutor(_SENDERS, thread_name_prefix="s3-store")
        self._senders_pid = os.getpid()
        self._index_bodies: OrderedDict[str, bytes] = OrderedDict()
        self._index_lock = threading.Lock()

    @property
    def _parallel(self) -> ThreadPoolExecutor:
        """The store's sending threads; made again in a forked child, which inherits the
        pool but none of its threads (a preloading server forks after making the app)."""
        if self._senders_pid != os.getpid():
            self._senders = ThreadPoolExecutor(_SENDERS, thread_name_prefix="s3-store")
            self._senders_pid = os.getpid()
        return self._senders

    @classmethod
    def connect(cls, bucket: str, endpoint_url: str | None, region: str) -> S3Store:
        """A store on this bucket; credentials from boto3's standard chain (environment,
        shared files, instance roles), never from our settings."""
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            config=client_config(endpoint_url),
        )
        return cls(bucket, client)

    def prepare(self) -> None:
        """Nothing to set up: the bucket is made by the infrastructure, not the backend."""

    def is_writable(self) -> bool:
        try:
            with _store_errors("write"):
                self.client.put_object(Bucket=self.bucket, Key=READY_PROBE_KEY, Body=b"")
            return True
        except StorageUnavailableError:
            return False

    def _owner_prefix(self, owner_digest: str) -> str:
        if SHA256_PATTERN.fullmatch(owner_digest) is None:
            raise ValueError("not an owner digest")
        return f"{OWNERS_PREFIX}/{owner_digest}"

    def _index_key(self, owner_digest: str, cursor: str) -> str:
        return f"{self._owner_prefix(owner_digest)}/newest/{inverted(cursor)}.json"

    def _marker_key(self, owner_digest: str, image_id: str) -> str:
        return f"{self._owner_prefix(owner_digest)}/ids/{image_id}.json"

    def _usage_key(self, owner_digest: str) -> str:
        return f"{self._owner_prefix(owner_digest)}/{RECORD_NAME}"

    def _references_prefix(self, owner_digest: str, content: str = "") -> str:
        return f"{self._owner_prefix(owner_digest)}/refs/{content + '/' if content else ''}"

    def _references(self, owner_digest: str, content: str = "") -> list[Reference]:
        """The owner's references (to one content, or to all), every page of them."""
        prefix = self._references_prefix(owner_digest, content)
        found = []
        with _store_errors("list references"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    parts = entry["Key"].removeprefix(self._references_prefix(owner_digest))
                    reference = Reference.parse(*parts.split("/", 1)) if "/" in parts else None
                    if reference is not None:
                        found.append(reference)
        return found

    def bytes_used(self, owner_digest: str) -> int:
        """One list request per 1,000 references: sizes are in their names."""
        return bytes_used(self._references(owner_digest))

    def _get(self, key: str, action: str) -> bytes | None:
        """The object's bytes; None when it does not exist."""
        with _store_errors(action):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise

    def _put(self, key: str, body: bytes, **extra: str) -> None:
        with _store_errors("store the result"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)

    def readable_url(self, path: str) -> str:
        """`/results/<name>` with a presigned GET of that object as its query: what the
        gateway forwards to the bucket unchanged (path-style, so the signed path is
        `/<bucket>/<name>` on the endpoint's host, as the gateway rewrites it).

        One URL per name for a whole SIGNED_URL_REUSE_SECONDS window: a reloaded gallery
        gets the URLs the browser has cached, and a page of results costs a signature per
        image once a window, not on every answer."""
        if not path.startswith(RESULTS_PATH):
            raise ValueError(f"not a result path: {path!r}")
        return self._signed(path, int(self.clock() // SIGNED_URL_REUSE_SECONDS))

    def _sign(self, path: str, window: int) -> str:
        """`window` only keys the cache: the signature carries the time it was made."""
        with _store_errors("sign a result URL"):
            signed = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": path.removeprefix(RESULTS_PATH)},
                ExpiresIn=URL_LIFETIME_SECONDS,
            )
        return f"{path}?{urlsplit(signed).query}"

    def load(self, owner_digest: str, image_id: str) -> Metadata | None:
        if not is_valid_id(image_id):
            return None
        body = self._get(self._marker_key(owner_digest, image_id), "read a result")
        return None if body is None else json.loads(body)

    def load_original(self, stem: str, extension: str) -> bytes | None:
        if not is_valid_id(stem) or extension not in EXTENSIONS:
            return None
        return self._get(f"{stem}.orig.{extension}", "read an original")

    def result_objects(
        self,
        metadata: Metadata,
        original: bytes,
        extension: str,
        edges_png: bytes,
        view_png: bytes | None = None,
    ) -> list[StoredObject]:
        """Every object of one result in the order they must be written: the reference to
        shared content (if it shares), images, metadata, the listing index entry, then the
        get-by-id marker. A save cut short after the
        index is listed with all its images; it is fetched by id and answered as cached
        only once the marker exists, so the client's retry completes it (a marker before
        the index would answer `cached` forever for a result never listed)."""
        image_id = metadata["id"]
        owner = metadata["owner"]
        stem = content_stem(metadata)
        images = [(f"{stem}.orig.{extension}", original, _MEDIA_TYPES[f"orig.{extension}"])]
        if view_png is not None:
            images.append((f"{stem}.view.png", view_png, "image/png"))
        images.append((f"{image_id}.png", edges_png, "image/png"))
        document = json.dumps(metadata).encode()
        references = []
        if shares_content(metadata):
            reference = reference_of(metadata, original, edges_png, view_png)
            key = self._references_prefix(owner, reference.content) + reference.leaf
            references.append(StoredObject(key, b"", _JSON))
        return [
            *references,
            *(
                StoredObject(key, body, {"ContentType": media, **_IMAGE})
                for key, body, media in images
            ),
            StoredObject(f"{image_id}.json", document, _JSON),
            StoredObject(self._index_key(owner, sort_key(metadata)), document, _JSON),
            StoredObject(self._marker_key(owner, image_id), document, _JSON),
        ]

    def save(
        self,
        metadata: Metadata,
        original: bytes,
        extension: str,
        edges_png: bytes,
        view_png: bytes | None = None,
    ) -> None:
        """A PUT is atomic (a reader sees the old object or the new one, never part of it)
        and the images go first, so no listed or fetched id lacks them; what an
        interrupted save left is overwritten by the retry, which computes the same id.

        Four round trips to the bucket, not one per object: the reference to the shared
        original (alone: the module's docstring says why it goes first), the images and
        `<id>.json` together (and the read of the owner's usage record), then the index
        entry (and the record with this result added, see canny.storage.usage), then the
        marker (the order `result_objects` explains). Spaces is tens of milliseconds from a
        droplet, so each sequential PUT would add that much to every upload
        (docs/performance.md, "Results in a bucket")."""
        objects = self.result_objects(metadata, original, extension, edges_png, view_png)
        reference = None
        if shares_content(metadata):
            # Before the content: what a racing delete of its last other result lists.
            self.put(objects.pop(0))
            reference = reference_of(metadata, original, edges_png, view_png)
        *independent, index, marker = objects
        owner = metadata["owner"]
        kept = self._parallel.submit(self._kept_usage, owner)
        # list() waits for the PUTs and raises the first failure (any other still lands:
        # the client's retry computes the same id and overwrites it).
        list(self._parallel.map(self.put, independent))
        updates = [index]
        if (usage := kept.result()) is not None:
            usage = usage.with_result(reference)
            updates.append(StoredObject(self._usage_key(owner), usage.encode(), _JSON))
        list(self._parallel.map(self.put, updates))
        self.put(marker)

    def put(self, stored: StoredObject) -> None:
        self._put(stored.key, stored.body, **stored.headers)

    def delete(self, owner_digest: str, image_id: str) -> bool:
        """Unlist (index entry, then marker) before the images go, so no listed or fetched
        id ever lacks its images; S3 DELETE of a missing key succeeds, so a retry after a
        fault finishes the job. The owner is checked on `<id>.json`, which exists whenever
        the index entry does, so a result listed by a save cut short is deletable too."""
        if not is_valid_id(image_id):
            return False
        body = self._get(f"{image_id}.json", "read a result")
        metadata = None if body is None else json.loads(body)
        if metadata is None or metadata.get("owner") != owner_digest:
            return False
        keys = [self._index_key(owner_digest, sort_key(metadata))]
        keys.append(self._marker_key(owner_digest, image_id))
        keys += object_names(image_id)
        # Recounted at the next quota check: exact again, and nothing left of an owner
        # whose last result this was.
        keys.append(self._usage_key(owner_digest))
        stem = content_stem(metadata)
        if stem != image_id:
            keys += [
                self._references_prefix(owner_digest, stem) + reference.leaf
                for reference in self._references(owner_digest, stem)
                if reference.image_id == image_id
            ]
        self._delete_keys(keys)
        if stem != image_id and not self._references(owner_digest, stem):
            self._delete_content(owner_digest, metadata)
        return True

    def _delete_content(self, owner_digest: str, metadata: Metadata) -> None:
        """Delete a shared original and view that no reference was listed for, held aside
        (a server-side copy) until a second listing shows no save referenced them in the
        meantime; if one did, they are put back (the module's docstring says why)."""
        stem = content_stem(metadata)
        keys = sorted(
            {
                str(metadata[name]).removeprefix(RESULTS_PATH)
                for name in ("original_url", "view_url")
            }
        )
        held = {key: f"{self._owner_prefix(owner_digest)}/held/{key}" for key in keys}
        held = {key: hold for key, hold in held.items() if self._copy(key, hold)}
        self._delete_keys(content_names(stem))
        if self._references(owner_digest, stem):
            log.info("content %s was referenced by a save while deleted: put back", stem)
            for key, hold in held.items():
                self._copy(hold, key)
        self._delete_keys(list(held.values()))

    def _copy(self, source: str, target: str) -> bool:
        """A server-side copy, metadata (Content-Type, Cache-Control) included (CopyObject's
        MetadataDirective defaults to COPY,
        https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html); False when
        the source is gone."""
        with _store_errors("delete a result"):
            try:
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=target,
                    CopySource={"Bucket": self.bucket, "Key": source},
                )
            except ClientError as error:
                if _is_missing(error):
                    return False
                raise
        return True

    def _delete_keys(self, keys: list[str]) -> None:
        with _store_errors("delete a result"):
            for key in keys:
                self.client.delete_object(Bucket=self.bucket, Key=key)

    def _kept_usage(self, owner_digest: str) -> Usage | None:
        body = self._get(self._usage_key(owner_digest), "read the owner's usage")
        return None if body is None else Usage.decode(body)

    def usage(self, owner_digest: str) -> Usage:
        """One GET; a recount when the record is missing, unreadable or stale."""
        return self._trusted(owner_digest, self._kept_usage(owner_digest))

    def _trusted(self, owner_digest: str, kept: Usage | None) -> Usage:
        if kept is None or kept.is_stale(self.clock()):
            return self.recount(owner_digest)
        return kept

    def load_for_upload(
        self, owner_digest: str, image_id: str, with_usage: bool
    ) -> tuple[Metadata | None, Usage | None]:
        """The result's marker and the usage record read at once: one round trip where
        two in turn cost two. A repeat never has its usage recounted."""
        if not with_usage:
            return self.load(owner_digest, image_id), None
        kept = self._parallel.submit(self._kept_usage, owner_digest)
        metadata = self.load(owner_digest, image_id)
        if metadata is not None:
            return metadata, None
        return None, self._trusted(owner_digest, kept.result())

    def recount(self, owner_digest: str) -> Usage:
        """The owner's index and references listed at once (one round trip up to 1,000
        references), then the record PUT. Saves landing meanwhile may be missed: the
        record is then behind, as after racing saves (canny.storage.usage)."""
        results = self._parallel.submit(self.count, owner_digest, COUNTED_RESULTS_MAX)
        stored = self._parallel.submit(self.bytes_used, owner_digest)
        counted = Usage(results.result(), stored.result(), self.clock())
        if counted.results:
            self.put(StoredObject(self._usage_key(owner_digest), counted.encode(), _JSON))
        return counted

    def _index_entries(self, keys: list[str]) -> dict[str, bytes]:
        """The bodies of these index entries: from memory, or GET at once (then kept).

        An entry never changes once written: its key names the result's creation time and
        id, and the id fixes every other field of the record (contract.result_id), so a
        body once read is the body for good, whichever backend wrote it. The LIST stays
        the truth of what a page holds: a deleted entry is no longer listed, so its kept
        body is never shown; a reloaded gallery waits for its LIST alone."""
        with self._index_lock:
            found = {key: self._index_bodies[key] for key in keys if key in self._index_bodies}
            for key in found:
                self._index_bodies.move_to_end(key)
        missing = [key for key in keys if key not in found]
        fetched = self._parallel.map(lambda key: self._get(key, "list results"), missing)
        read = {key: body for key, body in zip(missing, fetched, strict=True) if body is not None}
        with self._index_lock:
            self._index_bodies.update(read)
            while len(self._index_bodies) > INDEX_CACHE_SIZE:
                self._index_bodies.popitem(last=False)
        return {**found, **read}

    def count(self, owner_digest: str, up_to: int) -> int:
        """One list request of the owner's index: at most `up_to` keys (MaxKeys up to
        1,000, https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html)."""
        request = {
            "Bucket": self.bucket,
            "Prefix": f"{self._owner_prefix(owner_digest)}/newest/",
            "MaxKeys": max(0, min(up_to, 1000)),
        }
        with _store_errors("count results"):
            listed = self.client.list_objects_v2(**request)
        return len(listed.get("Contents", []))

    def list(
        self, owner_digest: str, limit: int, before: str | None = None
    ) -> tuple[list[Metadata], str | None]:
        if before is not None and CURSOR_PATTERN.fullmatch(before) is None:
            raise InvalidRequestError("before must be a cursor returned as `next` by this endpoint")
        prefix = f"{self._owner_prefix(owner_digest)}/newest/"
        request = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": limit + 1}
        if before is not None:
            request["StartAfter"] = self._index_key(owner_digest, before)
        with _store_errors("list results"):
            listed = self.client.list_objects_v2(**request)
        keys = [entry["Key"] for entry in listed.get("Contents", [])]
        page_keys = keys[:limit]
        bodies = self._index_entries(page_keys)
        # An entry deleted between the list and its GET is simply not on the page.
        items = [json.loads(bodies[key]) for key in page_keys if key in bodies]
        next_cursor = None
        if len(keys) > limit:
            next_cursor = inverted(page_keys[-1][len(prefix) : -len(".json")])
        return items, next_cursor
