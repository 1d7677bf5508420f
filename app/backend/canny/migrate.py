"""Copy a filesystem results directory into the configured bucket.

`python -m canny.migrate --from DIR`, with the CANNY_STORAGE=s3 settings of the backend.

Reads the owners' index (`owners/<digest>/<id>.json`), so exactly the listed results move,
each written in the S3 store's order (images, metadata, index entry, get-by-id marker): a
result is listed in the bucket only once its images and metadata are there. An object already in the
bucket with the same size and MD5 ETag is skipped, so a rerun after an interruption
resumes where it stopped and a finished migration is a no-op. Every object written is
read back (HEAD) and compared; nothing is ever deleted, on either side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from canny.errors import StorageUnavailableError
from canny.image_format import FORMAT_BY_NAME
from canny.settings import Settings, SettingsError
from canny.storage.contract import Metadata, content_stem, is_valid_id
from canny.storage.s3_store import S3Store, StoredObject


class VerificationError(RuntimeError):
    """An object read back from the bucket differs from what was written."""


@dataclass
class Summary:
    results: int = 0
    copied: int = 0
    skipped: int = 0
    failed: int = 0


def listed_results(directory: Path) -> Iterator[Metadata]:
    """Every owner's indexed result, oldest owner folder and id order first (stable)."""
    for entry in sorted((directory / "owners").glob("*/*.json")):
        if is_valid_id(entry.stem):
            yield json.loads(entry.read_bytes())


def objects_of(store: S3Store, directory: Path, metadata: Metadata) -> list[StoredObject]:
    """The result's objects, its shared original and view (and its reference to them) too:
    copied again for each result that shares them, and skipped once already there."""
    image_id = metadata["id"]
    stem = content_stem(metadata)
    extension = FORMAT_BY_NAME[metadata["format"]].extension
    view = directory / f"{stem}.view.png"
    return store.result_objects(
        metadata,
        (directory / f"{stem}.orig.{extension}").read_bytes(),
        extension,
        (directory / f"{image_id}.png").read_bytes(),
        view.read_bytes() if view.exists() else None,
    )


def _md5(body: bytes) -> str:
    # S3 and Spaces give a single-part object the MD5 of its bytes as its ETag:
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html (ETag)
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def _matches(store: S3Store, stored: StoredObject) -> bool:
    """Whether the bucket already holds exactly these bytes under this key."""
    try:
        head = store.client.head_object(Bucket=store.bucket, Key=stored.key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return head["ContentLength"] == len(stored.body) and head["ETag"].strip('"') == _md5(
        stored.body
    )


def copy_object(store: S3Store, stored: StoredObject) -> bool:
    """Write one object unless it is already there; True when it was written."""
    if _matches(store, stored):
        return False
    store.put(stored)
    if not _matches(store, stored):
        raise VerificationError(f"{stored.key}: the bucket's copy differs after writing it")
    return True


def migrate(directory: Path, store: S3Store, out: TextIO) -> Summary:
    summary = Summary()
    results = list(listed_results(directory))
    for number, metadata in enumerate(results, start=1):
        summary.results += 1
        try:
            outcome = [
                copy_object(store, stored) for stored in objects_of(store, directory, metadata)
            ]
        except (
            OSError,
            BotoCoreError,
            ClientError,
            StorageUnavailableError,
            VerificationError,
        ) as error:
            summary.failed += 1
            print(f"[{number}/{len(results)}] {metadata['id']}: FAILED: {error}", file=out)
            continue
        copied = sum(outcome)
        summary.copied += copied
        summary.skipped += len(outcome) - copied
        print(
            f"[{number}/{len(results)}] {metadata['id']}: {copied} copied, "
            f"{len(outcome) - copied} already there",
            file=out,
        )
    print(
        f"{summary.results} results: {summary.copied} objects copied, {summary.skipped} "
        f"already there, {summary.failed} results failed (rerun to retry; nothing was deleted)",
        file=out,
    )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m canny.migrate", description=__doc__)
    parser.add_argument("--from", dest="source", type=Path, required=True, help="results directory")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        parser.error(str(error))
    if settings.storage != "s3":
        parser.error("set CANNY_STORAGE=s3 and CANNY_S3_BUCKET (and the endpoint) to migrate into")
    if not (args.source / "owners").is_dir():
        parser.error(f"{args.source} has no owners/ index: not a results directory")
    store = S3Store.connect(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    summary = migrate(args.source, store, sys.stdout)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
