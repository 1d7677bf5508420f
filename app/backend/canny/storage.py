"""Results on disk, in the flat layout the gateway serves at /results/.

Per id: `<id>.orig.<ext>` (the upload), `<id>.png` (edge map), `<id>.json` (metadata).
Every file is written to a temp file in the same directory, fsynced and moved into
place with os.replace, and the metadata goes last: an id is listed only once all its
files exist, and a crash or a full disk leaves nothing visible. Two processes saving
the same id write identical images, so whichever replace lands last is a valid result.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from canny.edge_params import EdgeParams
from canny.errors import InsufficientStorageError, InvalidRequestError
from canny.image_format import EXTENSIONS

# Every temp file we create is hidden and ends like this: `.<name>.<random>.tmp`.
TEMP_SUFFIX = ".tmp"
# A save takes milliseconds, so a temp file this old was left by a killed process, not
# by another backend writing right now.
STALE_TEMP_SECONDS = 3600
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
CURSOR_PATTERN = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{32}")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
log = logging.getLogger(__name__)

Metadata = dict[str, Any]


def result_id(data: bytes, params: EdgeParams) -> str:
    """Same bytes and params, same id: the content address that makes repeats free."""
    digest = hashlib.sha256()
    digest.update(f"canny-v1 low={params.low} high={params.high} blur={params.blur}\n".encode())
    digest.update(data)
    return digest.hexdigest()[:32]


def is_valid_id(value: str) -> bool:
    return ID_PATTERN.fullmatch(value) is not None


def created_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sort_key(metadata: Metadata) -> str:
    """Newest-first order and the pagination cursor: creation time, then id to break ties."""
    stamp = datetime.strptime(metadata["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp.strftime('%Y%m%dT%H%M%S%f')}Z-{metadata['id']}"


class ResultStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def remove_stale_temp_files(self, older_than: float = STALE_TEMP_SECONDS) -> int:
        """Delete temp files of saves cut short by SIGKILL or a crash; nothing else would."""
        cutoff = time.time() - older_than
        removed = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if not (entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX)):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def is_writable(self) -> bool:
        try:
            with tempfile.NamedTemporaryFile(
                dir=self.directory, prefix=".ready-", suffix=TEMP_SUFFIX
            ):
                return True
        except OSError:
            return False

    def _metadata_path(self, image_id: str) -> Path:
        if not is_valid_id(image_id):
            raise ValueError(f"not a result id: {image_id!r}")
        return self.directory / f"{image_id}.json"

    def load(self, image_id: str) -> Metadata | None:
        if not is_valid_id(image_id):
            return None
        try:
            return json.loads(self._metadata_path(image_id).read_bytes())
        except FileNotFoundError:
            return None

    def save(
        self,
        metadata: Metadata,
        original: bytes,
        extension: str,
        edges_png: bytes,
        view_png: bytes | None = None,
    ) -> None:
        """Write the upload, its view rendition if any, the edge map, then the metadata
        that makes the id visible."""
        image_id = metadata["id"]
        files = (
            (f"{image_id}.orig.{extension}", original),
            *(((f"{image_id}.view.png", view_png),) if view_png is not None else ()),
            (f"{image_id}.png", edges_png),
            (f"{image_id}.json", json.dumps(metadata).encode()),
        )
        written: list[str] = []
        try:
            for name, content in files:
                self._write_atomic(name, content)
                written.append(name)
            self._sync_directory()
        except OSError as error:
            if not self._metadata_path(image_id).exists():
                self._remove(written)
            if error.errno in _NO_SPACE:
                raise InsufficientStorageError("no space left to store the result") from error
            raise

    def _write_atomic(self, name: str, content: bytes) -> None:
        fd, temp_name = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as temp:
                # Readable by the gateway, which serves these files under another user.
                os.fchmod(temp.fileno(), 0o644)
                temp.write(content)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, self.directory / name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _remove(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()

    def delete(self, image_id: str) -> bool:
        """Unlist first (metadata), then remove the images; True if anything existed."""
        if not is_valid_id(image_id):
            return False
        names = [f"{image_id}.json", f"{image_id}.png", f"{image_id}.view.png"]
        names += [f"{image_id}.orig.{extension}" for extension in EXTENSIONS]
        existed = [name for name in names if (self.directory / name).exists()]
        self._remove(names)
        return bool(existed)

    def _all_metadata(self) -> Iterator[Metadata]:
        for path in self.directory.glob("*.json"):
            if not is_valid_id(path.stem):
                continue
            try:
                yield json.loads(path.read_bytes())
            except FileNotFoundError:
                continue  # deleted while listing
            except ValueError:
                # Our writes are atomic, so this file was changed by hand: skip, do not fail.
                log.warning("skipping unreadable metadata file %s", path.name)

    def list(self, limit: int, before: str | None = None) -> tuple[list[Metadata], str | None]:
        """Newest first; `before` is the cursor of the previous page's last item.

        The cursor is a position (time, id), not an offset, so results written while a
        client pages do not shift or repeat the items of later pages.
        """
        if before is not None and CURSOR_PATTERN.fullmatch(before) is None:
            raise InvalidRequestError("before must be a cursor returned as `next` by this endpoint")
        keyed = [(sort_key(metadata), metadata) for metadata in self._all_metadata()]
        if before is not None:
            keyed = [(key, metadata) for key, metadata in keyed if key < before]
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        page = keyed[:limit]
        next_cursor = page[-1][0] if len(keyed) > limit else None
        return [metadata for _, metadata in page], next_cursor
