"""The stand-in for DigitalOcean Spaces: a moto S3 server on 127.0.0.1, behind nginx with TLS
on the rehearsal's service address, port 443, under the names the program uses
(`https://<region>.digitaloceanspaces.com`, infra/results_bucket.py spaces_endpoint). The
droplets' containers resolve those names with the rehearsal's DNS (infra/rehearse/
spaces_dns.py) and reach it by egress only, as they reach Spaces. moto is an emulator: it
accepts any key and keeps objects in memory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.rehearse.balancer import nginx_head, write_self_signed_certificate
from infra.rehearse.s3_emulator import MotoServer
from infra.rehearse.spaces_dns import ZONE, SpacesDns
from localrun import processes
from localrun.readiness import free_port, wait_until

START_TIMEOUT_S = 30


class Spaces:
    """`with Spaces(folder, address) as spaces:`; spaces.certificate is what clients trust."""

    def __init__(self, folder: Path, address: str) -> None:
        self.folder = folder
        self.address = address
        self._nginx: subprocess.Popen | None = None
        self._dns = SpacesDns(address)
        beside = Path(sys.executable).with_name("moto_server")  # the venv's, when run from it
        moto = str(beside) if beside.exists() else shutil.which("moto_server") or "moto_server"
        self.moto = MotoServer(moto, free_port(), folder / "moto_server.log")

    def __enter__(self) -> Spaces:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.moto.start()
        try:
            self._start_front()
            self._dns.__enter__()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_front(self) -> None:
        self.certificate, key = write_self_signed_certificate(
            self.folder, "spaces", (ZONE, f"*.{ZONE}")
        )
        config = self.folder / "nginx.conf"
        folder = self.folder
        config.write_text(
            nginx_head(folder, workers=1, connections=128)
            + f"""
    access_log "{folder}/access.log";
    server {{
        listen {self.address}:443 ssl;
        ssl_certificate "{self.certificate}";
        ssl_certificate_key "{key}";
        client_max_body_size 64m;
        location / {{
            proxy_pass {self.moto.endpoint_url};
            proxy_set_header Host $host;
            proxy_request_buffering off;
        }}
    }}
}}
"""
        )
        nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
        if nginx is None:
            raise RuntimeError("nginx is not installed (apt nginx)")
        command = [nginx, "-p", str(folder), "-c", str(config), "-e", "stderr", "-g", "user root;"]
        log = folder / "nginx.log"
        self._nginx = processes.spawn(command, env=os.environ, log_path=log, cwd=folder)
        wait_until("the Spaces front", self._answers, self._nginx, log, START_TIMEOUT_S, pause=0.2)

    def _answers(self) -> bool:
        try:
            socket.create_connection((self.address, 443), timeout=2).close()
        except OSError:
            return False
        return True

    def client(self) -> Any:
        """boto3 on moto directly (the test's view of the bucket)."""
        return self.moto.client()

    def access_log(self) -> str:
        """The TLS front's access log: every request the droplets sent to "Spaces"."""
        log = self.folder / "access.log"
        return log.read_text() if log.exists() else ""

    def create_bucket(self, name: str) -> None:
        """What DigitalOcean does for the program's SpacesBucket."""
        self.client().create_bucket(Bucket=name)

    def __exit__(self, *exc_info: object) -> None:
        self._dns.__exit__(None, None, None)
        if self._nginx is not None:
            processes.stop(self._nginx)
            self._nginx = None
        self.moto.stop()
