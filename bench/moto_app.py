"""moto's S3 emulator served as Spaces serves: connections kept alive between requests.

`moto_server` runs moto's app (moto/server.py: DomainDispatcherApplication over
create_backend_app) on werkzeug's development server, which answers every request with
`Connection: close` ("Always close the connection. This disables HTTP/1.1 keep-alive",
werkzeug/serving.py, WSGIRequestHandler.send_response): behind bench.delay_proxy each
request then also paid a new connection's handshake, a round trip that boto3's pooled
connections to Spaces do not cost. The same app runs here under gunicorn's threaded
worker, which keeps connections open (https://docs.gunicorn.org/en/stable/settings.html#keepalive).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from localrun import processes
from localrun.readiness import wait_until_ok

app = DomainDispatcherApplication(create_backend_app)

REPOSITORY = Path(__file__).resolve().parents[1]
# One process (moto keeps buckets in its memory), threads enough for a page's parallel
# GETs, and connections kept open between an upload's requests.
_SERVER = ("--worker-class", "gthread", "--threads", "32", "--keep-alive", "60")


def start_emulator(port: int, work: Path) -> subprocess.Popen:
    """moto on 127.0.0.1:`port`, answering once this returns; stop it with processes.stop."""
    log_path = work / "moto.log"
    server = processes.spawn(
        [
            sys.executable,
            "-m",
            "gunicorn",
            *_SERVER,
            "--bind",
            f"127.0.0.1:{port}",
            f"{__name__}:app",
        ],
        # moto builds some answers' URLs from MOTO_PORT (moto/server.py sets it the same way).
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPOSITORY), "MOTO_PORT": str(port)},
        log_path=log_path,
        cwd=work,
    )
    wait_until_ok("moto", server, f"http://127.0.0.1:{port}/moto-api/", log_path, 30)
    return server
