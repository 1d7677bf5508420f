"""The load client: Debian's `wrk` with bench/upload.lua, one thread, bounded in count and time.

wrk (C, epoll) costs far less CPU per request than a Python client, which matters because
it shares the two cores with the server it measures; its CPU is measured and reported.
"""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

from canny.owner_keys import COOKIE_NAME

from bench.multipart import Envelope

LUA_SCRIPT = Path(__file__).with_name("upload.lua")
LOOKUP_SCRIPT = Path(__file__).with_name("lookup.lua")
LIMIT_REACHED = "limit reached"


class LoadError(RuntimeError):
    """wrk is missing, failed, or printed no result."""


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    client_cpu_seconds: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


def parse_wrk_output(stdout: str, concurrency: int, client_cpu_seconds: float) -> LoadResult:
    """The JSON line upload.lua's done() prints (times in microseconds)."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise LoadError(f"wrk printed no result:\n{stdout}")
    raw = json.loads(lines[-1])
    errors = sum(
        raw[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return LoadResult(
        concurrency=concurrency,
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        client_cpu_seconds=client_cpu_seconds,
    )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise LoadError("wrk is not installed (Debian: apt-get install wrk)")
    return found


class UploadLoad:
    """Uploads of one image through the gateway at `url`, 127.0.0.1 only, all by one owner
    (`owner_key`, one the service issued: see issued_owner_key; sent as `Authorization:
    Bearer`)."""

    def __init__(
        self,
        url: str,
        envelope: Envelope,
        file_bytes: bytes,
        work_dir: Path,
        owner_key: str,
        issues_owners: bool = True,
    ) -> None:
        _check_loopback(url)
        self.url = url
        # Whether the server at `url` issues owner keys (the naive peer has none: it keeps
        # `owner_key`, which it ignores).
        self.issues_owners = issues_owners
        self.envelope = envelope
        self.owner_key = owner_key
        folder = Path(tempfile.mkdtemp(prefix="load-", dir=work_dir))
        self._head = folder / "head.bin"
        self._tail = folder / "tail.bin"
        self.owner_key_file = folder / "owner-key"
        self._head.write_bytes(envelope.head + file_bytes)
        self._tail.write_bytes(envelope.tail)
        self.owner_key_file.write_text(self.owner_key)

    def _new_owner(self) -> None:
        self.owner_key = issued_owner_key(self.url)
        self.owner_key_file.write_text(self.owner_key)

    def run(
        self, concurrency: int, requests: int, tag: str = "", max_seconds: float = 120
    ) -> LoadResult:
        """Stop after `requests` answers or `max_seconds`, whichever comes first.

        A non-empty `tag` makes each request a new upload (see upload.lua), sent by a new
        owner: one owner across a full run passed CANNY_OWNER_MAX_RESULTS (1000) in its
        third round and got 507s, and every upload's quota check scans the owner's results
        (FileStore.count), so later runs paid for the earlier ones' results. An untagged
        run keeps the owner, whose stored result it repeats (and LookupLoad looks up)."""
        if tag and self.issues_owners:
            self._new_owner()
        script_args = [
            str(self._head),
            str(self._tail),
            self.envelope.content_type,
            str(requests),
            # Requests in flight when the limit is reached are sent too: build those as well.
            str(requests + concurrency),
            tag,
            str(self.owner_key_file),
        ]
        return _run_wrk(LUA_SCRIPT, self.url, concurrency, script_args, max_seconds)


class LookupLoad:
    """The page's lookup of a file by its SHA-256 (GET /api/images/lookup, default params),
    sent by the owner of `upload`: once that owner uploaded the file, every lookup finds it."""

    def __init__(self, upload: UploadLoad, content_sha256: str) -> None:
        self.upload = upload
        self.path = f"/api/images/lookup?sha256={content_sha256}"

    def run(self, concurrency: int, requests: int, max_seconds: float = 120) -> LoadResult:
        script_args = [self.path, str(requests), str(self.upload.owner_key_file)]
        return _run_wrk(LOOKUP_SCRIPT, self.upload.url, concurrency, script_args, max_seconds)


def issued_owner_key(url: str) -> str:
    """A new owner key from the service at `url`: the service signs its keys, so a load
    cannot make one up. A list call without a key is answered with a new one as the
    plain-HTTP cookie (canny.owner_keys)."""
    _check_loopback(url)
    with urllib.request.urlopen(f"{url}/api/images", timeout=10) as answer:  # noqa: S310
        cookies = SimpleCookie()
        for line in answer.headers.get_all("Set-Cookie") or []:
            cookies.load(line)
    if COOKIE_NAME not in cookies:
        raise LoadError(f"{url} issued no owner key ({COOKIE_NAME} cookie)")
    return cookies[COOKIE_NAME].value


def _check_loopback(url: str) -> None:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the load client only targets 127.0.0.1, not {url}")


def _run_wrk(
    script: Path, url: str, concurrency: int, script_args: list[str], max_seconds: float
) -> LoadResult:
    """One wrk thread with `script`, stopped at the script's limit or after `max_seconds`."""
    _check_loopback(url)
    command = [
        wrk_binary(),
        "--threads=1",
        f"--connections={concurrency}",
        f"--duration={max_seconds:.0f}s",
        "--timeout=60s",
        f"--script={script}",
        url,
        "--",
        *script_args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stdout, returncode = _run_until_limit(command, max_seconds + 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if returncode != 0:
        raise LoadError(f"wrk exited with {returncode}:\n{stdout}")
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return parse_wrk_output(stdout, concurrency, client_cpu)


def _run_until_limit(command: list[str], timeout: float) -> tuple[str, int]:
    """Run wrk; when upload.lua reports its limit on stderr, SIGINT ends wrk early, which
    makes it stop its clock and print the summary at once (it would wait for --duration)."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as wrk:
        timer = threading.Timer(timeout, wrk.kill)
        timer.start()
        try:
            errors = []
            for line in wrk.stderr:
                if line.strip() == LIMIT_REACHED:
                    wrk.send_signal(signal.SIGINT)
                else:
                    errors.append(line)
            stdout = wrk.stdout.read()
            returncode = wrk.wait()
        finally:
            timer.cancel()
    return stdout + "".join(errors), returncode
