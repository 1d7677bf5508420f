"""`python -m localrun` (or `./run`) as a child process of a test: started on a port and
run folder, read until it says something, and never outliving the test."""

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from localrun.nginx_config import REPO_ROOT
from localrun.stack import scratch_dir_for

LOCALRUN = [sys.executable, "-m", "localrun"]


def read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
    """Collect the process's output until `marker` shows up; bounded, and fails on exit.
    Raw reads of the pipe: a buffered reader would hide data from select()."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    output = ""
    deadline = time.monotonic() + timeout
    while marker not in output:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {marker!r} after {timeout}s; output so far:\n{output}")
        if selector.select(remaining):
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"exited ({process.wait()}) before {marker!r}:\n{output}")
            output += chunk.decode(errors="replace")
    return output


def process_tree(root: int) -> set[int]:
    """All descendants of root, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until_gone(pids: set[int], timeout: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    return {pid for pid in pids if alive(pid)}


def run_until_exit(run_dir: Path, port: int) -> subprocess.CompletedProcess:
    """`python -m localrun` expected to refuse to start: its exit code and output, bounded."""
    return subprocess.run(
        [*LOCALRUN, "--port", str(port), "--run-dir", str(run_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def local_run(
    command: list[str], run_dir: Path, port: int, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """The run started with its output on a pipe. Whatever the test left running is killed
    afterwards, the run's children too, and its memory-backed scratch folder removed (a
    killed run cannot clear it; the next start would)."""
    process = subprocess.Popen(
        [*command, "--port", str(port), "--run-dir", str(run_dir)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        tree = process_tree(process.pid)
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        for pid in tree:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(scratch_dir_for(run_dir.resolve()), ignore_errors=True)
