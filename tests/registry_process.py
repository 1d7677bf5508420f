"""Debian's docker-registry (distribution 2.8) on a free loopback port for one test: shared
by the registry client tests and the pull-by-digest test."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import pick_free_port


@contextlib.contextmanager
def serving(binary: str, folder: Path, htpasswd: Path | None = None) -> Iterator[str]:
    """`host:port` of a registry keeping its data in `folder`; with `htpasswd`, Basic auth."""
    port = pick_free_port()
    auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n" if htpasswd else ""
    config = folder / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log_path = folder / "registry.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        try:
            for _ in range(100):
                try:
                    requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"the registry did not start: {log_path.read_text()}")
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)
