"""The gateway's limits agree with the backend's and answer in the API's JSON shape."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from canny import MULTIPART_OVERHEAD_BYTES

from localrun import LocalStack
from tests.integration.gateway.gateway_client import logged_request, png, upload


def post_bytes(stack: LocalStack, size: int) -> requests.Response:
    return requests.post(
        f"{stack.url}/api/images",
        files={"file": ("big.png", b"\0" * size, "image/png")},
        timeout=60,
    )


def test_a_file_at_the_backend_limit_passes_the_gateway(gateway: LocalStack) -> None:
    answer = post_bytes(gateway, gateway.max_upload_bytes)
    logged = logged_request(gateway, answer.headers["X-Request-ID"])
    assert logged["upstream_addr"], "nginx refused a file the backend would have judged"
    assert answer.status_code == 400, "zeros are not an image: the backend says so"


def test_a_file_just_over_the_limit_is_refused_by_the_backend(gateway: LocalStack) -> None:
    answer = post_bytes(gateway, gateway.max_upload_bytes + 1)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


def test_a_body_over_the_gateway_limit_gets_413_json_from_nginx(gateway: LocalStack) -> None:
    answer = post_bytes(gateway, gateway.max_upload_bytes + MULTIPART_OVERHEAD_BYTES + 1)
    assert answer.status_code == 413
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]["code"] == "payload_too_large"
    logged = logged_request(gateway, answer.headers["X-Request-ID"])
    assert logged["upstream_addr"] == "", "nginx should refuse it without asking a backend"


@pytest.fixture(scope="module")
def strict_gateway(
    tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> Iterator[LocalStack]:
    """Two uploads at once, then one a minute: the limit is reached within a test."""
    require_tool("nginx")
    run_dir: Path = tmp_path_factory.mktemp("strict-gateway")
    with LocalStack(run_dir, upload_rate="1r/m", upload_burst=1) as stack:
        yield stack


def test_uploads_over_the_rate_get_429_json(strict_gateway: LocalStack) -> None:
    statuses = [upload(strict_gateway, png(seed)).status_code for seed in range(100, 104)]
    assert statuses[:2] == [201, 201], f"uploads within rate and burst were refused: {statuses}"
    assert statuses[2:] == [429, 429], f"uploads over the rate were let through: {statuses}"
    refused = upload(strict_gateway, png(105))
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json()["error"]["code"] == "rate_limited"


def test_reading_is_not_rate_limited(strict_gateway: LocalStack) -> None:
    statuses = {
        requests.get(f"{strict_gateway.url}/api/images", timeout=10).status_code for _ in range(20)
    }
    assert statuses == {200}
