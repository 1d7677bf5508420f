"""Same-site CSRF (issue 28): a page on another port of the same host made visitors'
browsers upload into, re-run in and delete from their own galleries with the cookie."""

import io
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.owner_keys_for_tests import issued_test_key

Send = Callable[..., TestResponse]


@pytest.fixture
def browser(client: FlaskClient, shapes_png: bytes) -> tuple[FlaskClient, str]:
    """A client holding an owner cookie and one stored result, as a visitor's browser."""
    first = client.post(
        "/api/images",
        data={"file": (io.BytesIO(shapes_png), "a.png")},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert first.status_code == 201
    return client, first.get_json()["id"]


def upload(client: FlaskClient, png: bytes, headers: dict[str, str]) -> TestResponse:
    return client.post(
        "/api/images", data={"file": (io.BytesIO(png), "b.png"), "low": "7"}, headers=headers
    )


CROSS_ORIGIN_HEADERS = [
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "http://evil.example"},
    {"Origin": "https://localhost"},
    {"Origin": "null"},
    {"Origin": "http://[bad"},
    # Same host, another port: the page the probe of issue 28 used (test client's host is
    # `localhost`, port 80).
    {"Origin": "http://localhost:8081"},
    {"Origin": "http://localhost:99999"},
]


@pytest.mark.parametrize("headers", CROSS_ORIGIN_HEADERS)
def test_unsafe_calls_from_another_origin_are_refused(
    browser: tuple[FlaskClient, str], shapes_png: bytes, headers: dict[str, str]
) -> None:
    client, image_id = browser
    answers = [
        upload(client, shapes_png, headers),
        client.post(f"/api/images/{image_id}/rerun", data={"low": "3"}, headers=headers),
        client.delete(f"/api/images/{image_id}", headers=headers),
    ]
    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert {answer.get_json()["error"]["code"] for answer in answers} == {"cross_origin_request"}
    gallery = client.get("/api/images", headers={"Sec-Fetch-Site": "same-origin"}).get_json()
    assert [item["id"] for item in gallery["items"]] == [image_id], "the gallery changed"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://localhost"},
        {"Origin": "http://localhost:80"},
        # No browser: curl, the smoke test, scripts.
        {},
        # A script with its key may call from anywhere: the key is its own credential.
        {"Sec-Fetch-Site": "cross-site", "Authorization": f"Bearer {issued_test_key()}"},
    ],
)
def test_same_origin_calls_and_scripts_are_served(
    client: FlaskClient, shapes_png: bytes, headers: dict[str, str]
) -> None:
    assert upload(client, shapes_png, headers).status_code == 201


def test_reads_from_another_origin_are_not_refused(browser: tuple[FlaskClient, str]) -> None:
    """Reads change nothing, and the browser keeps their answers from the other page."""
    client, _ = browser
    assert client.get("/api/images", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080", 201),
        ("127.0.0.1:8080", "http://127.0.0.1:9090", 403),
        ("127.0.0.1:8080", "http://127.0.0.1", 403),
        ("example.test", "http://example.test:8080", 403),
    ],
)
def test_the_origin_fallback_compares_ports(
    client: FlaskClient, shapes_png: bytes, host: str, origin: str, status: int
) -> None:
    """The Host the gateway passes on carries the browser's port (nginx.conf.template)."""
    answer = upload(client, shapes_png, {"Origin": origin, "Host": host})
    assert answer.status_code == status, answer.get_json()
