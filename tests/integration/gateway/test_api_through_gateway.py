"""The API and the results through the real gateway, in front of two real backends."""

import requests

from localrun import LocalStack
from tests.integration.gateway.gateway_client import logged_request, png, upload

IMMUTABLE = "private, max-age=31536000, immutable"


def test_upload_then_fetch_list_and_delete(gateway: LocalStack) -> None:
    owner = requests.Session()
    created = upload(gateway, png(1), session=owner, low=50, high=150, blur=3)
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["params"] == {"low": 50, "high": 150, "blur": 3}

    for url in (item["edges_url"], item["original_url"]):
        result = requests.get(gateway.url + url, timeout=10)
        assert result.status_code == 200, f"{url}: {result.status_code}"
        assert result.headers["Content-Type"] == "image/png"
        assert result.headers["Cache-Control"] == IMMUTABLE, f"{url} lacks the immutable cache"
    original = requests.get(gateway.url + item["original_url"], timeout=10)
    assert original.content == png(1), "the original is not the uploaded bytes"

    listed = owner.get(f"{gateway.url}/api/images?limit=100", timeout=10).json()
    assert item["id"] in [entry["id"] for entry in listed["items"]]

    deleted = owner.delete(f"{gateway.url}/api/images/{item['id']}", timeout=10)
    assert deleted.status_code == 204
    gone = requests.get(gateway.url + item["edges_url"], timeout=10)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert "Cache-Control" not in gone.headers, "a 404 must not be cached for a year"
    listed = owner.get(f"{gateway.url}/api/images?limit=100", timeout=10).json()
    assert item["id"] not in [entry["id"] for entry in listed["items"]]


def test_same_upload_twice_is_one_cached_result(gateway: LocalStack) -> None:
    owner = requests.Session()
    first = upload(gateway, png(2), session=owner).json()
    second = upload(gateway, png(2), session=owner).json()
    assert second["id"] == first["id"]
    assert second["cached"] is True


def test_config_tells_the_page_the_backend_upload_limit(gateway: LocalStack) -> None:
    config = requests.get(f"{gateway.url}/api/config", timeout=10)
    assert config.headers["Content-Type"] == "application/json"
    assert config.json()["max_upload_bytes"] == gateway.max_upload_bytes
    gone = requests.get(f"{gateway.url}/limits.json", timeout=10)
    assert gone.status_code == 404, "/api/config is the one answer; /limits.json is gone"


def test_a_sensible_client_request_id_is_kept_and_logged(gateway: LocalStack) -> None:
    answer = requests.get(
        f"{gateway.url}/api/images", headers={"X-Request-ID": "trace-abc.123"}, timeout=10
    )
    assert answer.headers["X-Request-ID"] == "trace-abc.123"
    logged = logged_request(gateway, "trace-abc.123")
    assert logged["uri"] == "/api/images"
    assert logged["upstream_addr"] in [backend.address for backend in gateway.backends]
    assert float(logged["upstream_response_time"]) >= 0


def test_an_odd_client_request_id_is_replaced(gateway: LocalStack) -> None:
    answer = requests.get(
        f"{gateway.url}/healthz", headers={"X-Request-ID": 'x" injected'}, timeout=10
    )
    generated = answer.headers["X-Request-ID"]
    assert len(generated) == 32 and all(c in "0123456789abcdef" for c in generated)


def test_the_backends_see_the_gateways_request_id(gateway: LocalStack) -> None:
    answer = requests.get(f"{gateway.url}/api/images", timeout=10)
    request_id = answer.headers["X-Request-ID"]
    backend = logged_request(gateway, request_id)["upstream_addr"]
    name = next(b.name for b in gateway.backends if b.address == backend)
    backend_log = (gateway.logs_dir / f"{name}.log").read_text()
    assert f'"request_id": "{request_id}"' in backend_log, f"{name} did not get X-Request-ID"


def test_gateway_health_answers_without_backends(gateway: LocalStack) -> None:
    answer = requests.get(f"{gateway.url}/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    logged = logged_request(gateway, answer.headers["X-Request-ID"])
    assert logged["upstream_addr"] == "", "the gateway's /healthz must not ask a backend"
