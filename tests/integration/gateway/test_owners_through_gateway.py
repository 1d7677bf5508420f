"""Owner keys through the real gateway: two clients, cookies, Bearer keys, private caching.

nginx passes the client's Cookie and Authorization headers to the backends and the
backends' Set-Cookie back unchanged (only Date, Server, X-Pad and X-Accel-* are hidden by
default: http://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_hide_header); it
sets X-Forwarded-Proto itself (`proxy_set_header ... $scheme`), replacing the client's.
"""

import requests

from localrun import LocalStack
from tests.integration.gateway.gateway_client import png, upload
from tests.owner_keys_for_tests import issued_test_key

TIMEOUT = 10


def image_ids(session: requests.Session, stack: LocalStack, **headers: str) -> list[str]:
    listed = session.get(f"{stack.url}/api/images?limit=100", headers=headers, timeout=TIMEOUT)
    assert listed.status_code == 200, listed.text
    return [item["id"] for item in listed.json()["items"]]


def test_two_browsers_never_see_each_others_results(gateway: LocalStack) -> None:
    alice, bob = requests.Session(), requests.Session()
    mine = upload(gateway, png(301), session=alice).json()
    theirs = upload(gateway, png(301), session=bob).json()
    assert mine["id"] != theirs["id"], "the same photo must get a new id per owner"
    assert theirs["cached"] is False, "bob learnt that alice uploaded this photo"
    assert image_ids(alice, gateway) == [mine["id"]]
    assert image_ids(bob, gateway) == [theirs["id"]]
    unknown = bob.get(f"{gateway.url}/api/images/{'0' * 32}", timeout=TIMEOUT)
    for answer in (
        bob.get(f"{gateway.url}/api/images/{mine['id']}", timeout=TIMEOUT),
        bob.delete(f"{gateway.url}/api/images/{mine['id']}", timeout=TIMEOUT),
    ):
        assert (answer.status_code, answer.json()) == (404, unknown.json())
    assert alice.get(f"{gateway.url}/api/images/{mine['id']}", timeout=TIMEOUT).status_code == 200
    for session, item in ((alice, mine), (bob, theirs)):
        deleted = session.delete(f"{gateway.url}/api/images/{item['id']}", timeout=TIMEOUT)
        assert deleted.status_code == 204


def test_the_cookie_is_httponly_lax_and_not_secure_over_plain_http(gateway: LocalStack) -> None:
    """The client's own X-Forwarded-Proto cannot make the backend think it came over HTTPS."""
    answer = upload(gateway, png(302), session=requests.Session())
    lie = requests.get(
        f"{gateway.url}/api/images", headers={"X-Forwarded-Proto": "https"}, timeout=TIMEOUT
    )
    for response in (answer, lie):
        cookie = response.headers["Set-Cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "max-age", "samesite"} <= attributes, cookie
        assert "SameSite=Lax" in cookie and "Path=/api/" in cookie, cookie
        assert "secure" not in attributes, f"Secure over plain http: {cookie}"


def test_a_script_uses_its_key_as_a_bearer_token(gateway: LocalStack) -> None:
    first = upload(gateway, png(303))
    key = first.json()["owner_key"]
    script = requests.Session()
    script.headers["Authorization"] = f"Bearer {key}"
    assert image_ids(script, gateway) == [first.json()["id"]]
    own_key = issued_test_key()
    assert image_ids(script, gateway, Authorization=f"Bearer {own_key}") == []
    assert script.delete(f"{gateway.url}/api/images/{first.json()['id']}").status_code == 204


def test_a_malformed_key_is_a_clean_json_401(gateway: LocalStack) -> None:
    answer = requests.get(
        f"{gateway.url}/api/images", headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT
    )
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]["code"] == "invalid_owner_key"


def test_results_and_api_answers_are_private_to_caches(gateway: LocalStack) -> None:
    owner = requests.Session()
    item = upload(gateway, png(304), session=owner).json()
    for url in (item["edges_url"], item["original_url"]):
        result = requests.get(gateway.url + url, timeout=TIMEOUT)
        assert result.status_code == 200, "result URLs are capabilities: no key needed"
        assert result.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    listed = owner.get(f"{gateway.url}/api/images", timeout=TIMEOUT)
    assert listed.headers["Cache-Control"] == "private, no-store"


def test_the_owner_index_is_never_served(gateway: LocalStack) -> None:
    item = upload(gateway, png(305), session=requests.Session()).json()
    folders = [path.name for path in (gateway.results_dir / "owners").iterdir()]
    assert folders, "the upload wrote no owner index"
    for folder in folders:
        for path in (f"/results/owners/{folder}/{item['id']}.json", f"/results/owners/{folder}/"):
            answer = requests.get(gateway.url + path, timeout=TIMEOUT)
            assert answer.status_code == 404, f"{path} answered {answer.status_code}"
