"""Two stacks ("droplets", each with its gateway and backends) sharing one bucket."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from tests.integration.gateway.gateway_client import png
from tests.owner_keys_for_tests import issued_test_key

OWNER = {"Authorization": f"Bearer {issued_test_key()}"}
TIMEOUT = 30


def test_an_upload_through_one_droplet_is_served_by_the_other(
    moto_server, bucket: str, s3_stack_factory
) -> None:
    first = s3_stack_factory("droplet-1", moto_server, bucket)
    second = s3_stack_factory("droplet-2", moto_server, bucket)
    stored = requests.post(
        f"{first.url}/api/images", files={"file": ("a.png", png(1))}, headers=OWNER, timeout=TIMEOUT
    )
    assert stored.status_code == 201, stored.text
    image_id = stored.json()["id"]

    listed = requests.get(f"{second.url}/api/images", headers=OWNER, timeout=TIMEOUT).json()
    assert [item["id"] for item in listed["items"]] == [image_id]
    fetched = requests.get(f"{second.url}/api/images/{image_id}", headers=OWNER, timeout=TIMEOUT)
    # Each droplet signs its own URL for the same object, and each one serves either's.
    edges_urls = {fetched.json()["edges_url"], stored.json()["edges_url"]}
    assert {urlsplit(url).path for url in edges_urls} == {f"/results/{image_id}.png"}
    for stack in (first, second):
        for url in edges_urls:
            assert requests.get(stack.url + url, timeout=TIMEOUT).status_code == 200, url
    again = requests.post(
        f"{second.url}/api/images",
        files={"file": ("a.png", png(1))},
        headers=OWNER,
        timeout=TIMEOUT,
    )
    assert again.json()["cached"] is True, "the other droplet recomputed a stored result"

    deleted = requests.delete(f"{second.url}/api/images/{image_id}", headers=OWNER, timeout=TIMEOUT)
    assert deleted.status_code == 204
    gone = requests.get(f"{first.url}/api/images/{image_id}", headers=OWNER, timeout=TIMEOUT)
    assert gone.status_code == 404
    assert moto_server.client().list_objects_v2(Bucket=bucket, Prefix=image_id)["KeyCount"] == 0
