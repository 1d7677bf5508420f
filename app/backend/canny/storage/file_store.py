"""Results on disk, in the flat layout the gateway serves at /results/, plus an owner index.

Per id: `<id>.png` (edge map), `<id>.json` (metadata, with the digest of the owner's
key). Per owner and content: `<content>.orig.<ext>` (the upload) and `<content>.view.png`,
shared by every result of that file (see contract). Per owner: `owners/<digest>/<id>.json`,
a hard link to that metadata, and `owners/<digest>/refs/<content>/<reference>`, an empty
file per result that uses the content. A result exists for its owner only through the
index entry, so getting, listing and deleting never look at anyone else's results, and
listing costs as many reads as the caller has results, however many others stored.

Every file is written to a temp file in the results directory, fsynced and moved into
place with os.replace; the metadata goes after the images and the index link goes last:
an id is visible only once all its files exist, and a crash or a full disk leaves nothing
visible. Two processes saving the same id write identical images, so whichever replace
lands last is a valid result.

Shared content goes only with its last reference. Saves and deletes of one owner take the
owner's lock (flock(2) on the folder `owners/<digest>`: held per open file, across processes
and containers on one kernel, released when the holder dies,
https://man7.org/linux/man-pages/man2/flock.2.html), so a delete that finds no reference
left removes the content before a save of the same file can add one: that save then
writes the content again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from canny.errors import InsufficientStorageError, InvalidRequestError
from canny.image_format import EXTENSIONS
from canny.storage.contract import (
    CREATED_FORMAT,
    CURSOR_PATTERN,
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

# Every temp file we create is hidden and ends like this: `.<name>.<random>.tmp`.
TEMP_SUFFIX = ".tmp"
# A save takes milliseconds, so a temp file this old was left by a killed process, not
# by another backend writing right now.
STALE_TEMP_SECONDS = 3600
OWNERS_FOLDER = "owners"
REFERENCES_FOLDER = "refs"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# One page: the least a filesystem allocates for data.
_PROBE_BYTES = 4096
log = logging.getLogger(__name__)


# Lookups of a name that a concurrent save is replacing (see FileStore._link_atomic).
_LINK_ATTEMPTS = 3


class FileStore:
    """Results in a local (or volume-mounted) folder: the default, for ./run and one droplet."""

    def __init__(self, directory: Path, min_free_bytes: int = 0) -> None:
        self.directory = directory
        # Free space below this means the next upload cannot be stored: not ready.
        self.min_free_bytes = min_free_bytes

    def prepare(self) -> None:
        """Make the folder, and sweep temp files of saves a crash cut short."""
        self.directory.mkdir(parents=True, exist_ok=True)
        removed = self.remove_stale_temp_files()
        if removed:
            log.warning("removed %d stale temp files", removed)

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
        """Whether data can be stored now. Creating an empty file is not enough: a full
        filesystem still has inodes, so a page of bytes is written and synced, as a save
        would; on a full disk that fails with ENOSPC. A page fitting is not enough either:
        with 432 KB free every upload got 507 while readiness said yes, so the free space
        must also hold `min_free_bytes`."""
        try:
            free = os.statvfs(self.directory)
            if free.f_bavail * free.f_frsize < self.min_free_bytes:
                return False
            with tempfile.NamedTemporaryFile(
                dir=self.directory, prefix=".ready-", suffix=TEMP_SUFFIX
            ) as probe:
                probe.write(bytes(_PROBE_BYTES))
                probe.flush()
                os.fsync(probe.fileno())
                return True
        except OSError:
            return False

    def _owner_folder(self, owner_digest: str) -> Path:
        if SHA256_PATTERN.fullmatch(owner_digest) is None:
            raise ValueError("not an owner digest")
        return self.directory / OWNERS_FOLDER / owner_digest

    def load(self, owner_digest: str, image_id: str) -> Metadata | None:
        """The owner's result with this id; None for unknown ids and others' results alike."""
        if not is_valid_id(image_id):
            return None
        try:
            return json.loads((self._owner_folder(owner_digest) / f"{image_id}.json").read_bytes())
        except FileNotFoundError:
            return None

    def readable_url(self, path: str) -> str:
        """The path itself: the gateway serves the results folder as it is."""
        return path

    def load_original(self, stem: str, extension: str) -> bytes | None:
        """The uploaded bytes stored under `stem` (content_stem of the record); None if
        they are gone (deleted meanwhile)."""
        if not is_valid_id(stem) or extension not in EXTENSIONS:
            return None
        try:
            return (self.directory / f"{stem}.orig.{extension}").read_bytes()
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
        """Write the upload, its view rendition if any, the edge map, the metadata, then
        the owner's index link that makes the id visible; a shared original is referenced
        before it is written, under the owner's lock (see the module's docstring)."""
        image_id = metadata["id"]
        stem = content_stem(metadata)
        shared = (
            (f"{stem}.orig.{extension}", original),
            *(((f"{stem}.view.png", view_png),) if view_png is not None else ()),
        )
        own = (
            (f"{image_id}.png", edges_png),
            (f"{image_id}.json", json.dumps(metadata).encode()),
        )
        owner_folder = self._owner_folder(metadata["owner"])
        index_entry = owner_folder / f"{image_id}.json"
        reference = reference_of(metadata, original, edges_png, view_png)
        written: list[str] = []
        try:
            with self._owner_lock(owner_folder):
                if shares_content(metadata):
                    self._add_reference(owner_folder, reference)
                # Shared content another result stored is there already, byte for byte.
                for name, content in shared:
                    if not (shares_content(metadata) and (self.directory / name).exists()):
                        self._write_atomic(name, content)
                        written.append(name)
                for name, content in own:
                    self._write_atomic(name, content)
                    written.append(name)
                self._sync_directory(self.directory)
                self._link_atomic(self.directory / f"{image_id}.json", index_entry)
                self._add_to_usage(owner_folder, reference if shares_content(metadata) else None)
        except OSError as error:
            if not index_entry.exists():
                self._undo_save(metadata, reference, written)
            if error.errno in _NO_SPACE:
                raise InsufficientStorageError("no space left to store the result") from error
            raise

    def _undo_save(self, metadata: Metadata, reference: Reference, written: list[str]) -> None:
        """What a failed save leaves: its own files, and its reference (then the content it
        wrote, unless another result refers to it)."""
        with self._owner_lock(self._owner_folder(metadata["owner"])):
            self._remove([name for name in written if name.startswith(metadata["id"])])
            if shares_content(metadata) and self._drop_reference(
                self._owner_folder(metadata["owner"]), reference.content, reference.image_id
            ):
                self._remove(content_names(reference.content))

    @contextlib.contextmanager
    def _owner_lock(self, owner_folder: Path) -> Iterator[None]:
        """The owner's folder itself is locked: no lock file to leave behind."""
        owner_folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(owner_folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _add_reference(self, owner_folder: Path, reference: Reference) -> None:
        folder = owner_folder / REFERENCES_FOLDER / reference.content
        folder.mkdir(parents=True, exist_ok=True)
        # A re-save of this id replaces its reference (the same result, the same sizes).
        for old in folder.glob(f"{reference.image_id}.*"):
            old.unlink()
        (folder / reference.leaf).touch()
        self._sync_directory(folder)

    def _drop_reference(self, owner_folder: Path, content: str, image_id: str) -> bool:
        """Remove the result's reference; True when it was the content's last one."""
        folder = owner_folder / REFERENCES_FOLDER / content
        for entry in folder.glob(f"{image_id}.*"):
            entry.unlink()
        try:
            folder.rmdir()
        except FileNotFoundError:
            return True
        except OSError as error:
            if error.errno == errno.ENOTEMPTY:
                return False
            raise
        return True

    def _link_atomic(self, target: Path, entry: Path) -> None:
        """Hard-link `entry` to `target`, replacing an older link of a re-saved id.

        os.link cannot overwrite, so the link is made under a temp name in the results
        directory (where stale temp files are swept) and renamed into place.
        """
        entry.parent.mkdir(parents=True, exist_ok=True)
        temp = self.directory / f".{entry.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}"
        for attempt in range(_LINK_ATTEMPTS):
            try:
                os.link(target, temp)
                break
            except FileNotFoundError:
                # Another save of this id replaced `target` between link(2)'s lookup and the
                # link itself: the inode it found had lost its last name, and Linux refuses
                # to link such an inode with ENOENT (fs/namei.c, vfs_link: i_nlink == 0).
                # The name exists again at once (rename(2) replaces atomically): look again.
                if attempt == _LINK_ATTEMPTS - 1:
                    raise
        try:
            os.replace(temp, entry)
        finally:
            # rename(2) "does nothing" when both names already link the same file (another
            # process saved this id first): the temp name would stay, so remove it here.
            # https://man7.org/linux/man-pages/man2/rename.2.html
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        self._sync_directory(entry.parent)

    def _write_atomic(self, name: str, content: bytes) -> None:
        self._replace(self.directory / name, content, durable=True)

    def _replace(self, target: Path, content: bytes, *, durable: bool) -> None:
        """Write `target` whole or not at all, through a temp file in the results directory
        (where stale ones are swept); `durable` fsyncs it before it takes the name."""
        fd, temp_name = tempfile.mkstemp(
            dir=self.directory, prefix=f".{target.name}.", suffix=TEMP_SUFFIX
        )
        try:
            with os.fdopen(fd, "wb") as temp:
                # Readable by the gateway, which serves these files under another user.
                os.fchmod(temp.fileno(), 0o644)
                temp.write(content)
                temp.flush()
                if durable:
                    os.fsync(temp.fileno())
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise

    def _sync_directory(self, directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _remove(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()

    def delete(self, owner_digest: str, image_id: str) -> bool:
        """Unlist first (the owner's index link), then remove the files; False when the
        owner has no result with this id, whoever else may have one."""
        if not is_valid_id(image_id):
            return False
        index_entry = self._owner_folder(owner_digest) / f"{image_id}.json"
        try:
            metadata = json.loads(index_entry.read_bytes())
        except FileNotFoundError:
            return False
        return self._delete_result(index_entry, metadata)

    def _delete_result(self, index_entry: Path, metadata: Metadata) -> bool:
        """Unlist the result, remove its files, then its reference and, when that was the
        last, the shared content; all under the owner's lock. False when it was gone."""
        owner_folder = index_entry.parent
        with self._owner_lock(owner_folder):
            try:
                index_entry.unlink()
            except FileNotFoundError:
                return False
            self._remove(object_names(metadata["id"]))
            # Recounted at the next quota check: exact again, and nothing left of an owner
            # whose last result this was.
            (owner_folder / RECORD_NAME).unlink(missing_ok=True)
            stem = content_stem(metadata)
            if stem != metadata["id"] and self._drop_reference(owner_folder, stem, metadata["id"]):
                self._remove(content_names(stem))
        return True

    def bytes_used(self, owner_digest: str) -> int:
        """From the names of the owner's references alone: no file is read or statted."""
        folder = self._owner_folder(owner_digest) / REFERENCES_FOLDER
        references = []
        for entry in folder.glob("*/*"):
            reference = Reference.parse(entry.parent.name, entry.name)
            if reference is not None:
                references.append(reference)
        return bytes_used(references)

    def _kept_usage(self, owner_folder: Path) -> Usage | None:
        try:
            return Usage.decode((owner_folder / RECORD_NAME).read_bytes())
        except FileNotFoundError:
            return None

    def _add_to_usage(self, owner_folder: Path, reference: Reference | None) -> None:
        """Add a saved result to the owner's record, if it has one (else the next quota
        check recounts); the caller holds the owner's lock, so no addition is lost. Not
        fsynced: a record a crash left torn is unreadable, and then recounted."""
        kept = self._kept_usage(owner_folder)
        if kept is not None:
            self._replace(
                owner_folder / RECORD_NAME, kept.with_result(reference).encode(), durable=False
            )

    def load_for_upload(
        self, owner_digest: str, image_id: str, with_usage: bool
    ) -> tuple[Metadata | None, Usage | None]:
        """One read after the other: the usage only when the result is not there."""
        metadata = self.load(owner_digest, image_id)
        if metadata is not None or not with_usage:
            return metadata, None
        return None, self.usage(owner_digest)

    def usage(self, owner_digest: str) -> Usage:
        """One small file read; a recount when it is missing, unreadable or stale."""
        kept = self._kept_usage(self._owner_folder(owner_digest))
        if kept is None or kept.is_stale(time.time()):
            return self.recount(owner_digest)
        return kept

    def recount(self, owner_digest: str) -> Usage:
        """Counted under the owner's lock, so no save lands between the count and the record."""
        owner_folder = self._owner_folder(owner_digest)
        if not owner_folder.is_dir():
            return Usage(0, 0, time.time())  # nothing stored yet, and nothing to leave behind
        with self._owner_lock(owner_folder):
            counted = Usage(
                self.count(owner_digest, COUNTED_RESULTS_MAX),
                self.bytes_used(owner_digest),
                time.time(),
            )
            if counted.results:
                self._replace(owner_folder / RECORD_NAME, counted.encode(), durable=False)
        return counted

    def delete_created_before(self, cutoff: datetime) -> int:
        """Delete every owner's results created before `cutoff`, each metadata-first (the
        owner's index entry, then `<id>.json`, then the images) so that a listed or
        fetched id never lacks its images. Returns how many results were deleted."""
        before = sort_key({"created_at": cutoff.strftime(CREATED_FORMAT), "id": ""})
        removed = 0
        for entry in (self.directory / OWNERS_FOLDER).glob("*/*.json"):
            try:
                metadata = json.loads(entry.read_bytes())
            except (FileNotFoundError, ValueError):
                continue  # deleted meanwhile, or changed by hand: listing skips it too
            if sort_key(metadata) >= before:
                continue
            removed += self._delete_result(entry, metadata)
        return removed

    def count(self, owner_digest: str, up_to: int) -> int:
        """Index entries in the owner's folder (names only, no reads), at most `up_to`."""
        counted = 0
        with (
            contextlib.suppress(FileNotFoundError),
            os.scandir(self._owner_folder(owner_digest)) as entries,
        ):
            for entry in entries:
                if counted >= up_to:
                    break
                if entry.name.endswith(".json") and is_valid_id(entry.name[: -len(".json")]):
                    counted += 1
        return counted

    def _owner_metadata(self, owner_digest: str) -> Iterator[Metadata]:
        # An owner with no results yet has no folder: glob then finds nothing.
        for path in self._owner_folder(owner_digest).glob("*.json"):
            if not is_valid_id(path.stem):
                continue
            try:
                yield json.loads(path.read_bytes())
            except FileNotFoundError:
                continue  # deleted while listing
            except ValueError:
                # Our writes are atomic, so this file was changed by hand: skip, do not fail.
                log.warning("skipping unreadable metadata file %s", path.name)

    def list(
        self, owner_digest: str, limit: int, before: str | None = None
    ) -> tuple[list[Metadata], str | None]:
        """The owner's results, newest first; `before` is the previous page's last cursor.

        The cursor is a position (time, id), not an offset, so results written while a
        client pages do not shift or repeat the items of later pages.
        """
        if before is not None and CURSOR_PATTERN.fullmatch(before) is None:
            raise InvalidRequestError("before must be a cursor returned as `next` by this endpoint")
        keyed = [(sort_key(metadata), metadata) for metadata in self._owner_metadata(owner_digest)]
        if before is not None:
            keyed = [(key, metadata) for key, metadata in keyed if key < before]
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        page = keyed[:limit]
        next_cursor = page[-1][0] if len(keyed) > limit else None
        return [metadata for _, metadata in page], next_cursor
