"""Owner keys: two clients never see each other's results (Flask test clients)."""

import io
from collections.abc import Callable

import pytest
from canny.owner_keys import (
    COOKIE_MAX_AGE_SECONDS,
    COOKIE_NAME,
    KEY_PATTERN,
    SECURE_COOKIE_NAME,
    Owner,
)
from canny.settings import Settings
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.owner_keys_for_tests import TEST_OWNER_KEYS
from tests.unit.backend import sample_images

Post = Callable[..., TestResponse]
TEST_KEYS = TEST_OWNER_KEYS
# A key the test app issued: an id of 43 characters of the token_urlsafe alphabet, signed.
KEY = TEST_KEYS.sign("A" * 20 + "b-_" * 7 + "z" * 2)


def post_image(client: FlaskClient, data: bytes, **headers: str) -> TestResponse:
    return client.post(
        "/api/images",
        data={"file": (io.BytesIO(data), "photo.png")},
        content_type="multipart/form-data",
        headers=headers,
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def alice(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def bob(app: Flask) -> FlaskClient:
    return app.test_client()


def test_new_keys_are_random_256_bit_ids_signed() -> None:
    keys = {TEST_KEYS.new_owner().key for _ in range(100)}
    assert len({key.partition(".")[0] for key in keys}) == 100
    assert all(KEY_PATTERN.fullmatch(key) and TEST_KEYS.verifies(key) for key in keys)
    assert TEST_KEYS.verifies(KEY)


def test_another_owner_cannot_list_get_or_delete_a_result(
    alice: FlaskClient, bob: FlaskClient, shapes_png: bytes
) -> None:
    created = post_image(alice, shapes_png).get_json()
    image_id = created["id"]
    assert bob.get("/api/images").get_json() == {"items": [], "next": None}
    unknown = bob.get("/api/images/" + "0" * 32)
    for response in (bob.get(f"/api/images/{image_id}"), bob.delete(f"/api/images/{image_id}")):
        assert response.status_code == 404
        assert response.get_json() == unknown.get_json(), "others' ids must look unknown"
    assert alice.get(f"/api/images/{image_id}").status_code == 200, "bob's delete removed it"
    assert [item["id"] for item in alice.get("/api/images").get_json()["items"]] == [image_id]
    assert alice.delete(f"/api/images/{image_id}").status_code == 204


def test_same_bytes_from_two_owners_get_two_ids(
    alice: FlaskClient, bob: FlaskClient, shapes_png: bytes
) -> None:
    first = post_image(alice, shapes_png).get_json()
    second = post_image(bob, shapes_png).get_json()
    assert first["id"] != second["id"]
    assert (first["cached"], second["cached"]) == (False, False), "bob learnt alice's upload"
    assert post_image(bob, shapes_png).get_json()["cached"] is True


@pytest.mark.parametrize(
    ("forwarded_proto", "secure"), [(None, False), ("http", False), ("https", True)]
)
def test_first_use_sets_an_httponly_samesite_lax_cookie_secure_only_over_https(
    alice: FlaskClient, shapes_png: bytes, forwarded_proto: str | None, secure: bool
) -> None:
    headers = {} if forwarded_proto is None else {"X-Forwarded-Proto": forwarded_proto}
    response = post_image(alice, shapes_png, **headers)
    name, path = (SECURE_COOKIE_NAME, "/") if secure else (COOKIE_NAME, "/api/")
    cookie = alice.get_cookie(name, path=path)
    assert cookie is not None, response.headers.getlist("Set-Cookie")
    assert response.get_json()["owner_key"] == cookie.value
    assert (cookie.http_only, cookie.same_site, cookie.secure) == (True, "Lax", secure)
    assert cookie.max_age == COOKIE_MAX_AGE_SECONDS


def test_the_key_is_handed_over_once_and_the_cookie_renewed(
    alice: FlaskClient, shapes_png: bytes
) -> None:
    key = post_image(alice, shapes_png).get_json()["owner_key"]
    again = post_image(alice, sample_images.encode(sample_images.shapes(seed=2), "png"))
    assert "owner_key" not in again.get_json()
    assert [f"{COOKIE_NAME}={key}" in line for line in again.headers.getlist("Set-Cookie")] == [
        True
    ]


def test_listing_without_a_key_issues_one(alice: FlaskClient) -> None:
    assert alice.get("/api/images").get_json() == {"items": [], "next": None}
    cookie = alice.get_cookie(COOKIE_NAME, path="/api/")
    assert cookie is not None and TEST_KEYS.verifies(cookie.value)


def test_a_script_keeps_its_results_with_the_key_from_its_first_upload(
    app: Flask, shapes_png: bytes
) -> None:
    script = app.test_client(use_cookies=False)
    created = post_image(script, shapes_png).get_json()
    key = created["owner_key"]
    listed = script.get("/api/images", headers=bearer(key))
    assert [item["id"] for item in listed.get_json()["items"]] == [created["id"]]
    assert "Set-Cookie" not in listed.headers, "a Bearer caller must not get a cookie"
    repeat = post_image(script, shapes_png, **bearer(key)).get_json()
    assert (repeat["id"], repeat["cached"]) == (created["id"], True)
    assert "owner_key" not in repeat
    assert script.get("/api/images").get_json()["items"] == [], "no key must mean no results"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(app: Flask, scheme: str) -> None:
    script = app.test_client(use_cookies=False)
    response = script.get("/api/images", headers={"Authorization": f"{scheme} {KEY}"})
    assert response.status_code == 200


def test_bearer_wins_over_the_cookie(alice: FlaskClient, shapes_png: bytes) -> None:
    post_image(alice, shapes_png)
    as_script = alice.get("/api/images", headers=bearer(KEY)).get_json()
    assert as_script["items"] == []
    assert len(alice.get("/api/images").get_json()["items"]) == 1


def test_the_owner_digest_is_stored_never_the_key(
    alice: FlaskClient, shapes_png: bytes, settings: Settings
) -> None:
    body = post_image(alice, shapes_png).get_json()
    stored = (settings.results_dir / f"{body['id']}.json").read_text()
    assert body["owner_key"] not in stored
    assert Owner(body["owner_key"], False, False).digest in stored


BAD_AUTHORIZATION = [
    "Bearer short",
    "Bearer " + KEY + "x",
    "Bearer " + KEY[:-1] + "!",
    "Bearer " + KEY[:-1] + "é",
    "Basic " + KEY,
    "Bearer",
    "",
]


@pytest.mark.parametrize("header", BAD_AUTHORIZATION)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/images"),
        ("get", "/api/images/" + "0" * 32),
        ("delete", "/api/images/" + "1" * 32),
    ],
)
def test_a_malformed_bearer_key_is_401_json(
    alice: FlaskClient, header: str, method: str, path: str
) -> None:
    response = getattr(alice, method)(path, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_owner_key"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_malformed_bearer_key_refuses_the_upload_before_storing(
    alice: FlaskClient, shapes_png: bytes, settings: Settings
) -> None:
    response = post_image(alice, shapes_png, Authorization="Bearer not-a-key")
    assert response.status_code == 401
    assert not settings.results_dir.exists() or not any(settings.results_dir.rglob("*.png"))


@pytest.mark.parametrize("value", ["short", KEY + "x", KEY[:-1] + ".", KEY.partition(".")[0]])
def test_a_malformed_cookie_is_401_and_dropped(alice: FlaskClient, value: str) -> None:
    alice.set_cookie(COOKIE_NAME, value, path="/api/")
    response = alice.get("/api/images")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_owner_key"
    assert alice.get_cookie(COOKIE_NAME, path="/api/") is None, "the bad cookie was kept"
    assert alice.get("/api/images").status_code == 200, "the next call must start afresh"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/images"),
        ("get", "/api/images/" + "0" * 32),
        ("delete", "/api/images/" + "1" * 32),
    ],
)
def test_api_answers_are_never_stored_by_shared_caches(
    alice: FlaskClient, method: str, path: str
) -> None:
    response = getattr(alice, method)(path)
    assert response.headers["Cache-Control"] == "private, no-store"


def test_an_owner_never_shows_its_key_in_logs_or_tracebacks() -> None:
    owner = Owner(KEY, issued=False, from_cookie=False)
    assert KEY not in repr(owner) and KEY not in str(owner)
