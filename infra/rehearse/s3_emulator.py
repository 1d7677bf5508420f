"""A moto S3 server that tests start, stop and restart on the same port: on 127.0.0.1, or on
an address of a network namespace the test made (run there through `launcher`); the
rehearsal runs one behind its Spaces stand-in (infra/rehearse/bucket.py)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from canny.storage.s3_store import client_config

from localrun import processes
from localrun.readiness import wait_until_ok

# moto accepts any credentials; these only satisfy boto3's credential chain.
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"


class MotoServer:
    def __init__(
        self,
        executable: str,
        port: int,
        log_path: Path,
        *,
        address: str = "127.0.0.1",
        launcher: Sequence[str] = (),
    ) -> None:
        """`launcher` prefixes the command, e.g. `nsenter --net=...` to serve `address`
        from inside a network namespace."""
        self.executable = executable
        self.port = port
        self.log_path = log_path
        self.address = address
        self.launcher = tuple(launcher)
        self.endpoint_url = f"http://{address}:{port}"
        self._process = None

    def start(self) -> None:
        self._process = processes.spawn(
            [*self.launcher, self.executable, "-H", self.address, "-p", str(self.port)],
            # Path-style only: behind the rehearsal's Spaces front the Host is
            # fra1.digitaloceanspaces.com, which moto would read as a bucket "fra1"
            # (moto/settings.py, S3_IGNORE_SUBDOMAIN_BUCKETNAME).
            env={"PATH": "/usr/bin:/bin", "S3_IGNORE_SUBDOMAIN_BUCKETNAME": "true"},
            log_path=self.log_path,
            cwd=self.log_path.parent,
        )
        # moto's server answers its dashboard path once it serves requests.
        wait_until_ok(
            "moto_server", self._process, f"{self.endpoint_url}/moto-api/", self.log_path, 30
        )

    def stop(self) -> None:
        """Stop it (all stored buckets are lost: moto keeps them in memory)."""
        if self._process is not None:
            processes.stop(self._process)
            self._process = None

    def client(self) -> Any:
        return boto3.session.Session(
            aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        ).client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            config=client_config(self.endpoint_url),
        )

    def new_bucket(self) -> str:
        """A fresh bucket (valid S3 name: lower case, 3-63 characters)."""
        name = f"canny-test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name
