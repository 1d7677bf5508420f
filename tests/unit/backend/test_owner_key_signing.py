"""Owner keys only the server issues: forged, unsigned, rotated and old-secret keys."""

import hashlib
import io
from pathlib import Path

import pytest
from canny import create_app
from canny.owner_keys import COOKIE_NAME, SECURE_COOKIE_NAME, Owner, OwnerKeys
from canny.settings import Settings, SettingsError
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

OLD_SECRET = "old-owner-key-secret-0123456789abcdef"
NEW_SECRET = "new-owner-key-secret-0123456789abcdef"
UNSIGNED_KEY = "A" * 43  # what the probe of issue 28 had accepted


def app_with(results: Path, secrets: str, **settings: object) -> Flask:
    return create_app(Settings(results_dir=results, owner_key_secrets=secrets, **settings))


def upload(client: FlaskClient, data: bytes, **headers: str) -> TestResponse:
    return client.post(
        "/api/images",
        data={"file": (io.BytesIO(data), "photo.png")},
        content_type="multipart/form-data",
        headers=headers,
    )


def listed_ids(client: FlaskClient, key: str) -> list[str]:
    answer = client.get("/api/images", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.get_json()
    return [item["id"] for item in answer.get_json()["items"]]


def forged_keys() -> list[str]:
    issued = OwnerKeys((OLD_SECRET,)).sign("B" * 43)
    owner_id, _, signature = issued.partition(".")
    return [
        UNSIGNED_KEY,
        OwnerKeys(("an-attackers-own-secret-0123456789abcdef",)).sign("B" * 43),
        f"{'C' * 43}.{signature}",  # a real signature moved to another id
        f"{owner_id}.{'A' * 43}",
        f"{owner_id}.{signature[:-1]}",
    ]


@pytest.mark.parametrize("key", forged_keys())
def test_a_key_the_server_did_not_sign_is_refused_as_bearer_and_as_cookie(
    tmp_path: Path, key: str
) -> None:
    client = app_with(tmp_path, OLD_SECRET).test_client()
    answer = client.get("/api/images", headers={"Authorization": f"Bearer {key}"})
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (401, "invalid_owner_key")
    client.set_cookie(COOKIE_NAME, key, path="/api/")
    assert client.get("/api/images").status_code == 401
    assert client.get_cookie(COOKIE_NAME, path="/api/") is None, "a forged cookie was kept"


def test_a_rotated_secret_keeps_old_keys_and_their_gallery(
    tmp_path: Path, shapes_png: bytes
) -> None:
    before = app_with(tmp_path, OLD_SECRET).test_client(use_cookies=False)
    created = upload(before, shapes_png).get_json()
    old_key = created["owner_key"]
    after = app_with(tmp_path, f"{NEW_SECRET},{OLD_SECRET}").test_client(use_cookies=False)
    assert listed_ids(after, old_key) == [created["id"]]
    # The same id signed by the new secret is the same owner: ownership is the id's.
    resigned = OwnerKeys((NEW_SECRET,)).sign(old_key.partition(".")[0])
    assert listed_ids(after, resigned) == [created["id"]]
    new_key = upload(after, shapes_png).get_json()["owner_key"]
    assert OwnerKeys((NEW_SECRET,)).verifies(new_key), "the first secret must sign new keys"
    assert not OwnerKeys((OLD_SECRET,)).verifies(new_key)


def test_a_key_of_a_secret_taken_out_of_the_list_is_refused(
    tmp_path: Path, shapes_png: bytes
) -> None:
    old_key = upload(app_with(tmp_path, OLD_SECRET).test_client(), shapes_png).get_json()
    client = app_with(tmp_path, NEW_SECRET).test_client()
    answer = client.get("/api/images", headers={"Authorization": f"Bearer {old_key['owner_key']}"})
    assert answer.status_code == 401


def test_an_unsigned_key_from_before_signing_is_upgraded_only_when_allowed(
    tmp_path: Path, shapes_png: bytes
) -> None:
    # Results stored before signing carry sha256("canny-owner-v1:" + key) as their owner.
    legacy_digest = hashlib.sha256(f"canny-owner-v1:{UNSIGNED_KEY}".encode()).hexdigest()
    migrating = app_with(tmp_path, OLD_SECRET, accept_unsigned_owner_keys=True).test_client()
    created = upload(migrating, shapes_png, Authorization=f"Bearer {UNSIGNED_KEY}").get_json()
    signed = created["owner_key"]
    assert signed.partition(".")[0] == UNSIGNED_KEY, "the upgrade must keep the id"
    assert Owner(signed, False, False).digest == legacy_digest, "the old gallery is lost"
    strict = app_with(tmp_path, OLD_SECRET).test_client(use_cookies=False)
    assert listed_ids(strict, signed) == [created["id"]]
    refused = strict.get("/api/images", headers={"Authorization": f"Bearer {UNSIGNED_KEY}"})
    assert refused.status_code == 401


def test_an_unsigned_cookie_is_replaced_by_its_signed_form_while_migrating(
    tmp_path: Path,
) -> None:
    client = app_with(tmp_path, OLD_SECRET, accept_unsigned_owner_keys=True).test_client()
    client.set_cookie(COOKIE_NAME, UNSIGNED_KEY, path="/api/")
    client.get("/api/images", headers={"X-Forwarded-Proto": "https"})
    cookie = client.get_cookie(SECURE_COOKIE_NAME, path="/")
    assert cookie is not None and cookie.value == OwnerKeys((OLD_SECRET,)).sign(UNSIGNED_KEY)


def test_over_https_only_the_host_prefixed_cookie_is_read(tmp_path: Path) -> None:
    """A plain `canny_owner` can be set by any page of the same site (another port, a
    sibling subdomain); over HTTPS it is ignored and a new key is issued instead."""
    keys = OwnerKeys((OLD_SECRET,))
    fixed = keys.sign("F" * 43)
    client = app_with(tmp_path, OLD_SECRET).test_client()
    client.set_cookie(COOKIE_NAME, fixed, path="/api/")
    answer = client.get("/api/images", headers={"X-Forwarded-Proto": "https"})
    issued = client.get_cookie(SECURE_COOKIE_NAME, path="/")
    assert issued is not None and issued.value != fixed and keys.verifies(issued.value)
    (line,) = [v for v in answer.headers.getlist("Set-Cookie") if v.startswith(SECURE_COOKIE_NAME)]
    attributes = {part.strip().split("=")[0].lower() for part in line.split(";")[1:]}
    assert {"secure", "path", "httponly"} <= attributes and "domain" not in attributes, line
    assert "Path=/;" in line or line.endswith("Path=/"), line


def test_the_app_does_not_start_without_a_signing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANNY_OWNER_KEY_SECRETS")
    with pytest.raises(SettingsError, match="CANNY_OWNER_KEY_SECRETS must be set"):
        create_app(Settings(results_dir=tmp_path))


@pytest.mark.parametrize("value", ["short-secret", f"{NEW_SECRET},tiny", f"{NEW_SECRET},"])
def test_a_short_secret_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(SettingsError, match="CANNY_OWNER_KEY_SECRETS must be") as refused:
        Settings(owner_key_secrets=value)
    assert value not in str(refused.value) and "tiny" not in str(refused.value)


def test_settings_never_show_the_secret() -> None:
    settings = Settings(owner_key_secrets=NEW_SECRET)
    assert NEW_SECRET not in repr(settings) and NEW_SECRET not in str(settings)
