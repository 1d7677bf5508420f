"""What the gateway must never do: leak files, expose internals, or answer without its
security headers."""

import http.client

import pytest
import requests

from localrun import LocalStack
from tests.integration.gateway.gateway_client import png, upload

SECRET = "TOP-SECRET-SENTINEL"


def raw_request(stack: LocalStack, path: str, method: str = "GET") -> tuple[int, dict, str]:
    """Send the path byte for byte: HTTP libraries would normalise the dot segments away."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        return response.status, dict(response.getheaders()), body
    finally:
        connection.close()


@pytest.fixture(scope="module")
def uploaded_id(gateway: LocalStack) -> str:
    (gateway.run_dir / "secret.txt").write_text(SECRET)
    created = upload(gateway, png(11))
    assert created.status_code == 201, created.text
    return created.json()["id"]


@pytest.mark.parametrize(
    "path",
    [
        "/results/../secret.txt",
        "/results/%2e%2e/secret.txt",
        "/results/..%2fsecret.txt",
        "/results/%2e%2e%2fsecret.txt",
        "/results/%252e%252e%252fsecret.txt",
        "/results/..%5csecret.txt",
        "/results/....//secret.txt",
        "/results/x/../../secret.txt",
        "/results/..%2f..%2fresults%2f..%2fsecret.txt",
        "/../../../../../../etc/passwd",
        "/results/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/results//etc/passwd",
        "/secret.txt",
        "/%2e%2e/secret.txt",
    ],
)
def test_path_traversal_never_reaches_a_file_outside(
    gateway: LocalStack, uploaded_id: str, path: str
) -> None:
    status, headers, body = raw_request(gateway, path)
    assert status in (400, 404), f"{path} answered {status}"
    assert SECRET not in body and "root:x:0:0" not in body, f"{path} leaked a file"
    assert headers["Content-Type"] == "application/json", f"{path} error is not JSON"


@pytest.mark.parametrize(
    "name",
    ["{id}.json", ".{id}.png.tmp", "", "{id}.png/", "{id}.orig.png.json", "{id}"],
)
def test_results_serves_only_result_images(
    gateway: LocalStack, uploaded_id: str, name: str
) -> None:
    (gateway.results_dir / f".{uploaded_id}.png.tmp").write_bytes(b"half-written")
    status, _, body = raw_request(gateway, "/results/" + name.format(id=uploaded_id))
    assert status == 404, f"/results/{name} answered {status}: {body[:200]}"


@pytest.mark.parametrize("method", ["DELETE", "PUT"])
def test_results_are_read_only(gateway: LocalStack, uploaded_id: str, method: str) -> None:
    path = f"/results/{uploaded_id}.png"
    status, _, body = raw_request(gateway, path, method)
    assert status == 405, f"{method} {path} answered {status}"
    assert '"method_not_allowed"' in body
    assert (gateway.results_dir / f"{uploaded_id}.png").exists()


@pytest.mark.parametrize(
    "path",
    [
        "/metrics",
        "/readyz",
        "/stub_status",
        "/api/metrics",
        "/api/../metrics",
        "/api/..%2fmetrics",
        "/api/images/..%2f..%2fmetrics",
        "/api/%2e%2e/readyz",
        "/results/../metrics",
    ],
)
def test_internal_endpoints_are_not_public(gateway: LocalStack, path: str) -> None:
    status, _, body = raw_request(gateway, path)
    assert status == 404, f"{path} answered {status}"
    assert "# HELP" not in body, f"{path} exposed backend metrics"
    assert "Active connections" not in body, f"{path} exposed stub_status"
    assert '"ready"' not in body, f"{path} exposed backend readiness"


def test_stub_status_answers_on_the_private_listener(gateway: LocalStack) -> None:
    answer = requests.get(f"http://{gateway.status_address}/stub_status", timeout=10)
    assert answer.status_code == 200
    assert answer.text.startswith("Active connections:")


@pytest.mark.parametrize("path", ["/", "/js/main.js", "/api/images", "/api/config", "/nope"])
def test_security_headers_on_every_answer(gateway: LocalStack, path: str) -> None:
    answer = requests.get(gateway.url + path, timeout=10)
    csp = answer.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, f"{path}: CSP {csp!r}"
    assert answer.headers.get("X-Content-Type-Options") == "nosniff", path
    assert answer.headers.get("Referrer-Policy") == "no-referrer", path
    assert answer.headers.get("Server") == "nginx", f"{path}: server_tokens must be off"


@pytest.mark.parametrize("path", ["/", "/app.css", "/js/gallery.js"])
def test_text_is_gzipped(gateway: LocalStack, path: str) -> None:
    answer = requests.get(gateway.url + path, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert answer.headers.get("Content-Encoding") == "gzip", f"{path} is not compressed"


def test_the_page_is_revalidated_not_cached_blindly(gateway: LocalStack) -> None:
    assert requests.get(gateway.url + "/", timeout=10).headers["Cache-Control"] == "no-cache"
