"""A moto S3 server for the session, a fresh bucket per test, and both stores on it."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from canny.storage import FileStore, ResultStore
from canny.storage.s3_store import S3Store

from infra.rehearse.s3_emulator import TEST_CREDENTIALS, MotoServer
from localrun import LocalStack
from localrun.readiness import free_port
from tests.conftest import UNTHROTTLED


@pytest.fixture(scope="session")
def moto_server(
    require_tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MotoServer]:
    server = MotoServer(
        require_tool("moto_server"),
        free_port(),
        tmp_path_factory.mktemp("moto") / "moto_server.log",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """boto3's standard environment variables, as the backend reads them in production."""
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return TEST_CREDENTIALS


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    return moto_server.new_bucket()


@pytest.fixture(params=["file", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_credentials: dict[str, str]
) -> ResultStore:
    """Each contract test runs once per backend."""
    if request.param == "file":
        file_store = FileStore(tmp_path / "results")
        file_store.prepare()
        return file_store
    server: MotoServer = request.getfixturevalue("moto_server")
    return S3Store.connect(request.getfixturevalue("bucket"), server.endpoint_url, "us-east-1")


def s3_storage_env(server: MotoServer, bucket: str) -> dict[str, str]:
    """What a droplet's backends get to use the bucket: the settings and boto3's variables."""
    return {
        "CANNY_STORAGE": "s3",
        "CANNY_S3_BUCKET": bucket,
        "CANNY_S3_ENDPOINT_URL": server.endpoint_url,
        **TEST_CREDENTIALS,
    }


@pytest.fixture
def s3_stack_factory(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> Iterator[Callable[[str, MotoServer, str], LocalStack]]:
    """Start LocalStacks ("droplets") on a bucket; all stopped after the test."""
    require_tool("nginx")
    started: list[LocalStack] = []

    def start(name: str, server: MotoServer, bucket: str) -> LocalStack:
        stack = LocalStack(
            tmp_path / name,
            free_port(),
            **UNTHROTTLED,
            storage_env=s3_storage_env(server, bucket),
        )
        started.append(stack)
        stack.start()
        return stack

    yield start
    for stack in reversed(started):
        stack.stop()
