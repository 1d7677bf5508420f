"""The stand-in for GitLab's container registry: Debian's `docker-registry` (distribution
2.8) with htpasswd auth, plain HTTP on the rehearsal's service address (droplets' dockerd
list it with --insecure-registry). The deploy logs in on stdin and pulls, as in prod.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from localrun import processes
from localrun.readiness import status_of, wait_until

PORT = 5000
START_TIMEOUT_S = 30
USER = "rehearsal"


class Registry:
    """`with Registry(folder, address) as registry:` then registry.address (host:port)."""

    def __init__(self, folder: Path, host: str) -> None:
        self.folder = folder
        self.address = f"{host}:{PORT}"
        self.user = USER
        self.password = secrets.token_urlsafe(18)
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> Registry:
        binary = shutil.which("docker-registry")
        htpasswd = shutil.which("htpasswd")
        if binary is None or htpasswd is None:
            raise RuntimeError("needs apt packages docker-registry and apache2-utils (htpasswd)")
        self.folder.mkdir(parents=True, exist_ok=True)
        users = self.folder / "htpasswd"
        subprocess.run(
            [htpasswd, "-B", "-i", "-c", str(users), self.user],
            input=self.password.encode(),
            capture_output=True,
            check=True,
            timeout=30,
        )
        config = self.folder / "config.yml"
        config.write_text(
            f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {self.folder / "data"}
http:
  addr: {self.address}
auth:
  htpasswd:
    realm: canny-rehearsal
    path: {users}
"""
        )
        self._process = processes.spawn(
            [binary, "serve", str(config)],
            env=dict(os.environ),
            log_path=self.folder / "registry.log",
            cwd=self.folder,
        )
        self._wait()
        return self

    def _wait(self) -> None:
        """/v2/ answers 401 without a login once the registry runs."""
        wait_until(
            "the registry",
            lambda: status_of(f"http://{self.address}/v2/") == 401,
            self._process,
            self.folder / "registry.log",
            START_TIMEOUT_S,
            pause=0.2,
        )

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            processes.stop(self._process)
            self._process = None
