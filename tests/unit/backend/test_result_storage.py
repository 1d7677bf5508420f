"""Atomic, content-addressed result storage, indexed per owner."""

import errno
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from canny import create_app
from canny.edge_params import EdgeParams
from canny.errors import InsufficientStorageError, InvalidRequestError
from canny.settings import Settings
from canny.storage import STALE_TEMP_SECONDS, FileStore, result_id

from tests.result_records import OTHER_OWNER, OWNER, result_record, shared_record, stamp


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_result_id_depends_on_owner_bytes_and_every_param() -> None:
    base = result_id(OWNER, sha256(b"image"), EdgeParams())
    assert base == result_id(OWNER, sha256(b"image"), EdgeParams()), "same input, same id"
    variants = [
        result_id(OTHER_OWNER, sha256(b"image"), EdgeParams()),
        result_id(OWNER, sha256(b"image!"), EdgeParams()),
        result_id(OWNER, sha256(b"image"), EdgeParams(low=101)),
        result_id(OWNER, sha256(b"image"), EdgeParams(high=201)),
        result_id(OWNER, sha256(b"image"), EdgeParams(blur=7)),
    ]
    assert base not in variants and len(set(variants)) == len(variants)
    assert len(base) == 32 and all(c in "0123456789abcdef" for c in base)


def test_a_new_edge_parameter_can_never_share_an_id() -> None:
    """A field added to EdgeParams later goes into the id without touching result_id."""

    class WithSigma(EdgeParams):
        sigma: int = 0

    ids = {result_id(OWNER, sha256(b"image"), WithSigma(sigma=n)) for n in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("owner", "content"), [("x" * 64, "0" * 64), (OWNER, "short"), (OWNER, "A" * 64)]
)
def test_result_id_refuses_what_is_not_a_sha256(owner: str, content: str) -> None:
    with pytest.raises(ValueError):
        result_id(owner, content, EdgeParams())


def result_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_save_writes_three_world_readable_files_an_index_link_and_no_temp_files(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path)
    image_id = "a" * 32
    store.save(result_record(image_id), b"original", "png", b"edges")
    index_entry = f"owners/{OWNER}/{image_id}.json"
    assert result_files(tmp_path) == [
        f"{image_id}.json",
        f"{image_id}.orig.png",
        f"{image_id}.png",
        index_entry,
    ]
    assert (tmp_path / index_entry).samefile(tmp_path / f"{image_id}.json")
    for path in tmp_path.glob("*.*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o644, f"{path.name} has mode {oct(mode)}; the gateway cannot read it"
    loaded = store.load(OWNER, image_id)
    assert loaded == result_record(image_id, created_at=loaded["created_at"])


def test_another_owner_cannot_load_list_or_delete_a_result(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    image_id = "a" * 32
    store.save(result_record(image_id), b"original", "png", b"edges")
    assert store.load(OTHER_OWNER, image_id) is None
    assert store.list(OTHER_OWNER, limit=10) == ([], None)
    assert store.delete(OTHER_OWNER, image_id) is False
    assert store.load(OWNER, image_id) is not None, "a refused delete removed the result"
    assert len(result_files(tmp_path)) == 4


def test_listing_reads_only_the_callers_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Others' results cost a lister nothing: only the caller's metadata files are read."""
    store = FileStore(tmp_path)
    for n in range(20):
        store.save(result_record(f"{n:032x}", owner=OTHER_OWNER), b"o", "png", b"e")
    mine = "f" * 32
    store.save(result_record(mine), b"o", "png", b"e")
    read: list[str] = []
    real_read_bytes = Path.read_bytes

    def counting_read_bytes(path: Path) -> bytes:
        read.append(path.name)
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", counting_read_bytes)
    page, _ = store.list(OWNER, limit=100)
    assert [item["id"] for item in page] == [mine]
    assert read == [f"{mine}.json"]


def test_a_failed_index_link_leaves_nothing_and_is_507(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", no_space)
    store = FileStore(tmp_path)
    with pytest.raises(InsufficientStorageError):
        store.save(result_record("a" * 32), b"o", "png", b"e")
    assert result_files(tmp_path) == []


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "a" * 31, "A" * 32, "", "a" * 32 + "/x"])
def test_malformed_ids_are_never_turned_into_paths(tmp_path: Path, bad_id: str) -> None:
    store = FileStore(tmp_path)
    assert store.load(OWNER, bad_id) is None
    assert store.delete(OWNER, bad_id) is False


def test_delete_removes_every_file_of_the_id_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save(result_record("a" * 32), b"o", "tiff", b"e")
    store.save(result_record("b" * 32), b"o", "png", b"e")
    assert store.delete(OWNER, "a" * 32) is True
    assert [name.rsplit("/", 1)[-1][:1] for name in result_files(tmp_path)] == ["b"] * 4
    assert store.delete(OWNER, "a" * 32) is False


def test_list_pages_newest_first_and_new_writes_do_not_shift_pages(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    ids = [f"{n:032x}" for n in range(5)]
    for n, image_id in enumerate(ids):
        store.save(result_record(image_id, created_at=stamp(n)), b"o", "png", b"e")
    page, cursor = store.list(OWNER, limit=2)
    assert [item["id"] for item in page] == [ids[4], ids[3]]
    store.save(result_record("f" * 32), b"o", "png", b"e")
    page, cursor = store.list(OWNER, limit=2, before=cursor)
    assert [item["id"] for item in page] == [ids[2], ids[1]]
    page, cursor = store.list(OWNER, limit=2, before=cursor)
    assert ([item["id"] for item in page], cursor) == ([ids[0]], None)


def test_same_timestamp_is_ordered_by_id_without_losing_items(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    ids = [f"{n:032x}" for n in range(4)]
    for image_id in ids:
        store.save(result_record(image_id, created_at=stamp(0)), b"o", "png", b"e")
    seen, cursor = [], None
    for _ in range(4):
        page, cursor = store.list(OWNER, limit=1, before=cursor)
        seen += [item["id"] for item in page]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_list_refuses_a_cursor_it_did_not_make(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError):
        FileStore(tmp_path).list(OWNER, limit=1, before="../../secret")


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from canny.storage import FileStore, created_now

    store = FileStore(Path(sys.argv[1]))
    image_id, owner = "c" * 32, "1" * 64
    for _ in range(int(sys.argv[2])):
        metadata = {
            "id": image_id,
            "owner": owner,
            "created_at": created_now(),
            "original_url": f"/results/{image_id}.orig.png",
        }
        store.save(metadata, b"original" * 10_000, "png", b"edges" * 10_000)
        loaded = store.load(owner, image_id)
        assert loaded is not None and loaded["id"] == image_id, loaded
    """
)


def test_two_processes_saving_the_same_id_leave_one_valid_result(tmp_path: Path) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "30"]) for _ in range(2)
    ]
    codes = [writer.wait(timeout=120) for writer in writers]
    assert codes == [0, 0], "a writer saw a missing or partial result"
    image_id = "c" * 32
    assert result_files(tmp_path) == [
        f"{image_id}.json",
        f"{image_id}.orig.png",
        f"{image_id}.png",
        f"owners/{OWNER}/{image_id}.json",
    ]
    assert (tmp_path / f"{image_id}.png").read_bytes() == b"edges" * 10_000
    assert json.loads((tmp_path / f"{image_id}.json").read_text())["id"] == image_id


# One process saves and deletes result A of a TIFF over and over; the other saves result B
# of the same TIFF and checks its original after each save. Each delete of A finds B's
# reference (or none yet) under the owner's lock, so B's original is never removed.
SHARING_RACER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from canny.storage import FileStore
    from tests.result_records import OWNER, shared_record

    store = FileStore(Path(sys.argv[1]))
    low = int(sys.argv[2])
    content = shared_record(low)["original_url"].split("/")[-1].split(".")[0]
    for _ in range(int(sys.argv[3])):
        metadata = shared_record(low)
        store.save(metadata, b"o" * 100_000, "tiff", b"e", b"v" * 100_000)
        if low == 10:
            assert store.delete(OWNER, metadata["id"])
        else:
            assert store.load_original(content, "tiff") == b"o" * 100_000, "original gone"
    """
)


def test_a_delete_racing_a_save_of_the_same_file_never_removes_the_saves_original(
    tmp_path: Path,
) -> None:
    """Issue 28: shared originals go with their last reference, decided under a lock."""
    racers = [
        subprocess.Popen([sys.executable, "-c", SHARING_RACER, str(tmp_path), low, "40"])
        for low in ("10", "20")
    ]
    assert [racer.wait(timeout=120) for racer in racers] == [0, 0]
    store = FileStore(tmp_path)
    (survivor,) = store.list(OWNER, limit=10)[0]
    assert survivor["id"] == shared_record(20)["id"]
    assert store.delete(OWNER, survivor["id"])
    assert result_files(tmp_path) == []


def test_a_failed_save_drops_its_reference_and_only_unshared_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    kept, failing, alone = shared_record(10), shared_record(20), shared_record(10, content_index=1)
    store.save(kept, b"o", "tiff", b"e", b"v")
    before = result_files(tmp_path)
    real_write = store._write_atomic

    def write(name: str, content: bytes) -> None:
        if name.endswith(".png") and not name.endswith(".view.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(name, content)

    monkeypatch.setattr(store, "_write_atomic", write)
    for metadata in (failing, alone):
        with pytest.raises(InsufficientStorageError):
            store.save(metadata, b"o", "tiff", b"e", b"v")
    assert result_files(tmp_path) == before, "the shared content of `kept` must stay, no more"
    assert store.bytes_used(OWNER) == 1 + 1 + 1 + len(json.dumps(kept).encode())


def test_list_skips_foreign_and_hand_damaged_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save(result_record("a" * 32), b"o", "png", b"e")
    index = tmp_path / "owners" / OWNER
    (index / ("b" * 32 + ".json")).write_text("{ not json")
    (index / "notes.json").write_text("{}")
    page, cursor = store.list(OWNER, limit=10)
    assert ([item["id"] for item in page], cursor) == (["a" * 32], None)


# A save that blocks in its first fsync, so the test can SIGKILL it with a temp file open.
KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from canny.storage import FileStore
    from tests.result_records import result_record

    os.fsync = lambda fd: time.sleep(60)
    metadata = result_record("d" * 32)
    FileStore(Path(sys.argv[1])).save(metadata, b"original" * 1000, "png", b"edges")
    """
)


def test_temp_files_of_a_killed_save_are_removed_once_stale(tmp_path: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)])
    try:
        for _ in range(200):
            if any(tmp_path.glob(".*.tmp")):
                break
            time.sleep(0.05)
    finally:
        writer.kill()
        writer.wait(timeout=10)
    left = list(tmp_path.glob(".*.tmp"))
    assert left, "the killed save left no temp file: the scenario did not happen"
    store = FileStore(tmp_path)
    store.save(result_record("a" * 32), b"o", "png", b"e")

    assert store.remove_stale_temp_files() == 0, "a fresh temp file may be another backend's"
    hour_ago = time.time() - STALE_TEMP_SECONDS - 60
    for path in left:
        os.utime(path, (hour_ago, hour_ago))
    create_app(Settings(results_dir=tmp_path))

    assert result_files(tmp_path) == [
        f"{'a' * 32}.json",
        f"{'a' * 32}.orig.png",
        f"{'a' * 32}.png",
        f"owners/{OWNER}/{'a' * 32}.json",
    ], "stale temp files must go and results must stay"


def record_durability_calls(
    monkeypatch: pytest.MonkeyPatch, fail_on: str | None = None
) -> list[str]:
    """Record os.fsync (with the name of the file its fd is open on) and os.replace (with
    the target's name) in call order, as "fsync NAME" / "replace NAME"; the first call
    whose record starts with `fail_on` raises EIO instead of running."""
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def record(call: str) -> None:
        calls.append(call)
        if fail_on is not None and call.startswith(fail_on):
            raise OSError(errno.EIO, "I/O error")

    def fsync(fd: int) -> None:
        record(f"fsync {Path(os.readlink(f'/proc/self/fd/{fd}')).name}")
        real_fsync(fd)

    def replace(source: str, target: Path) -> None:
        record(f"replace {Path(target).name}")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_save_fsyncs_each_file_before_its_rename_and_each_folder_once_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a 201 promises: every file's bytes and every name are on disk, and the
    owner's index link (which lists the id) is the last name to appear. A file's fsync
    does not make its name durable, the folder's fsync does (fsync(2):
    https://man7.org/linux/man-pages/man2/fsync.2.html)."""
    image_id = "a" * 32
    calls = record_durability_calls(monkeypatch)
    FileStore(tmp_path).save(result_record(image_id), b"original", "png", b"edges")
    names = [f"{image_id}.orig.png", f"{image_id}.png", f"{image_id}.json"]
    assert len(calls) == 9, calls
    for index, name in enumerate(names):
        synced, replaced = calls[2 * index], calls[2 * index + 1]
        assert synced.startswith(f"fsync .{name}.") and synced.endswith(".tmp"), calls
        assert replaced == f"replace {name}", calls
    assert calls[6] == f"fsync {tmp_path.name}", "then the folder, once, after every rename"
    assert calls[7:] == [f"replace {image_id}.json", f"fsync {OWNER}"], (
        "the owner's index link comes last, and its folder is synced"
    )


@pytest.mark.parametrize(
    "fail_on",
    [
        "fsync .{id}.png.",  # the edge map's temp file
        "replace {id}.json",  # moving the metadata into place, after the images
    ],
)
def test_a_failed_save_leaves_nothing_visible_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on: str
) -> None:
    image_id = "b" * 32
    failing = fail_on.format(id=image_id, folder=tmp_path.name)
    calls = record_durability_calls(monkeypatch, failing)
    with pytest.raises(OSError, match="I/O error"):
        FileStore(tmp_path).save(result_record(image_id), b"original", "png", b"edges")
    assert calls[-1].startswith(failing), calls
    # The owner's folder stays: it is made first, to hold the owner's lock.
    assert result_files(tmp_path) == [], "partial results or temp files left behind"


def test_a_failed_folder_fsync_is_an_error_and_lists_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names may not be durable, so the id never reaches the owner's index and its
    files are removed: the caller hears the error and nothing half-durable is listed."""
    image_id = "c" * 32
    calls = record_durability_calls(monkeypatch, f"fsync {tmp_path.name}")
    with pytest.raises(OSError, match="I/O error"):
        FileStore(tmp_path).save(result_record(image_id), b"original", "png", b"edges")
    assert calls[-1] == f"fsync {tmp_path.name}", calls
    assert result_files(tmp_path) == [], "files or temp files left behind"
    assert FileStore(tmp_path).load(OWNER, image_id) is None
