"""Real nginx: every request that runs the edge pipeline is limited, whatever names the key.

Issue 28: only POST /api/images was limited, so GET .../preview.png (a full pipeline run
that stores nothing) could be sent without bound; and the per-key limit read only the
plain `canny_owner` cookie, not the `__Host-canny_owner` one served over HTTPS.
"""

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from localrun import LocalStack
from tests.integration.gateway.gateway_client import png, upload
from tests.owner_keys_for_tests import issued_test_key

PER_KEY = 2  # the gateway's default uploads in flight per owner key


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> Iterator[LocalStack]:
    """One preview, then one a minute; uploads at their defaults."""
    require_tool("nginx")
    run_dir: Path = tmp_path_factory.mktemp("pipeline-limits")
    with LocalStack(run_dir, preview_rate="1r/m", preview_burst=1) as stack:
        yield stack


def test_a_burst_of_previews_gets_429_json_with_retry_after(limited: LocalStack) -> None:
    created = upload(limited, png(300))
    assert created.status_code == 201, created.text
    key, image_id = created.json()["owner_key"], created.json()["id"]
    owner = {"Authorization": f"Bearer {key}"}
    preview = f"{limited.url}/api/images/{image_id}/preview.png?low=10"
    answers = [requests.get(preview, headers=owner, timeout=30) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 429, 429]
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "rate_limited"
    # Another spelling of the same path is the same preview to nginx ($uri is normalised).
    doubled = f"{limited.url}/api//images/{image_id}/preview.png"
    assert requests.get(doubled, headers=owner, timeout=30).status_code == 429
    assert requests.head(preview, headers=owner, timeout=30).status_code == 429
    # Previews have their own rate: uploads and reads go on.
    assert upload(limited, png(301)).status_code == 201
    assert requests.get(f"{limited.url}/api/images", headers=owner, timeout=30).ok


def open_upload(stack: LocalStack, address: str, cookie: str) -> socket.socket:
    """An upload whose headers are sent and whose body never comes: it holds its slot."""
    connection = socket.create_connection(("127.0.0.1", stack.port), source_address=(address, 0))
    connection.sendall(
        (
            "POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: {cookie}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            "Content-Length: 1000000\r\n\r\n--b\r\n"
        ).encode()
    )
    return connection


@pytest.mark.parametrize(
    "cookie",
    [
        "__Host-canny_owner={key}",
        "theme=dark; __Host-canny_owner={key}; lang=en",
        "canny_owner={key}",
    ],
)
def test_the_per_key_limit_reads_the_owner_cookie_by_either_name(
    limited: LocalStack, cookie: str
) -> None:
    header = cookie.format(key=issued_test_key())
    held = [open_upload(limited, "127.0.0.6", header) for _ in range(PER_KEY)]
    try:
        time.sleep(0.5)  # nginx has read their headers: they count
        same_key = requests.post(
            f"{limited.url}/api/images",
            files={"file": ("a.png", png(302), "image/png")},
            headers={"Cookie": header},
            timeout=30,
        )
        assert (same_key.status_code, same_key.headers.get("Retry-After")) == (429, "1")
    finally:
        for connection in held:
            connection.close()


def test_the_origin_fallback_tells_ports_apart_through_the_gateway(limited: LocalStack) -> None:
    """The backend sees the Host the browser sent, port included (proxy_set_header Host)."""
    other_port = limited.url.rsplit(":", 1)[0] + f":{limited.port + 1}"
    answers = {
        origin: requests.post(
            f"{limited.url}/api/images",
            files={"file": ("a.png", png(303), "image/png")},
            headers={"Origin": origin},
            timeout=30,
        ).status_code
        for origin in (limited.url, other_port)
    }
    assert answers == {limited.url: 201, other_port: 403}
