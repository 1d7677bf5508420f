"""One stack per run folder: a second start says who holds it instead of a port error."""

import fcntl
import os
from pathlib import Path
from typing import IO


class AlreadyRunningError(RuntimeError):
    """Another local stack holds this run folder."""


class RunLock:
    """An flock on <run_dir>/lock; the kernel drops it when the holder dies, so it never
    goes stale. The file says who holds it and where, for the message."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "lock"
        self._file: IO[str] | None = None

    def acquire(self, url: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "another process"
            lock_file.close()
            raise AlreadyRunningError(
                f"canny-platform is already running from {self.path.parent} ({holder}); "
                "stop it first (Ctrl-C in its terminal, or kill that pid)"
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"pid {os.getpid()}, {url}\n")
        lock_file.flush()
        self._file = lock_file

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
