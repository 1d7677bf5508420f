"""Results on S3 need no object ACL: every object stays private, and the API's image URLs
carry a presigned GET that the gateway's /results/ hands to the bucket unchanged.

The backends' Spaces key is limited to `readwrite` on one bucket, and DigitalOcean documents
no object-ACL operations for such keys, nor a bucket policy beside them
(https://docs.digitalocean.com/products/spaces/how-to/configure-bucket-policies/): so
nothing here may depend on `x-amz-acl` or a policy. moto stands in for Spaces: it refuses
anonymous reads of private objects like S3 does, but it accepts any presigned query without
checking its signature; what is checked here is that the signed path and query reach the
bucket exactly as botocore signed them (the Host header is the bucket URL's host, set by
the gateway's rendering, tested in test_results_through_gateway).
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from canny.storage import ResultStore
from canny.storage.s3_store import SIGNED_URL_REUSE_SECONDS, URL_LIFETIME_SECONDS, S3Store

from infra.rehearse.s3_emulator import TEST_CREDENTIALS, MotoServer
from tests.integration.gateway.gateway_client import png

OWNER = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
TIMEOUT = 30
# The grantee URIs of S3's canned public ACLs (public-read, authenticated-read):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#specifying-grantee
PUBLIC_GRANTEES = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}


def upload(url: str) -> dict:
    answer = requests.post(
        f"{url}/api/images", files={"file": ("a.png", png(5))}, headers=OWNER, timeout=TIMEOUT
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_result_path_is_readable_as_it_is_on_files_and_signed_on_s3(
    store: ResultStore, s3_credentials: dict[str, str]
) -> None:
    path = f"/results/{'a' * 32}.png"
    url = store.readable_url(path)
    assert urlsplit(url).path == path
    if not isinstance(store, S3Store):
        assert url == path
        return
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith(f"{s3_credentials['AWS_ACCESS_KEY_ID']}/")
    # Signed for the Host header only: the gateway's proxy sets that one to the bucket's host.
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["X-Amz-Expires"] == str(URL_LIFETIME_SECONDS) == "604800"
    assert query["X-Amz-Signature"]


def test_a_signed_url_is_handed_out_again_within_its_window_and_renewed_after(
    moto_server: MotoServer, bucket: str
) -> None:
    """The same URL for a whole window (the browser's cached copy stays good across
    reloads); signed afresh in the next one. The sleeps put the signatures in different
    seconds, so a URL signed again would differ in X-Amz-Date."""
    now = [1_000_000 * SIGNED_URL_REUSE_SECONDS]
    store = S3Store(bucket, moto_server.client(), clock=lambda: now[0])
    path = f"/results/{'b' * 32}.png"
    first = store.readable_url(path)
    time.sleep(1.1)
    now[0] += SIGNED_URL_REUSE_SECONDS - 1
    assert store.readable_url(path) == first
    now[0] += 1
    renewed = store.readable_url(path)
    assert renewed != first
    assert (
        parse_qs(urlsplit(renewed).query)["X-Amz-Date"]
        > parse_qs(urlsplit(first).query)["X-Amz-Date"]
    )


def test_stored_objects_grant_nobody_else_and_refuse_anonymous_reads(
    moto_server: MotoServer, bucket: str, s3_stack_factory
) -> None:
    stack = s3_stack_factory("droplet", moto_server, bucket)
    stored = upload(stack.url)
    image_id = stored["id"]
    client = moto_server.client()
    keys = [entry["Key"] for entry in client.list_objects_v2(Bucket=bucket)["Contents"]]
    original = urlsplit(stored["original_url"]).path.removeprefix("/results/")
    assert f"{image_id}.png" in keys and original in keys
    for key in keys:
        grants = client.get_object_acl(Bucket=bucket, Key=key)["Grants"]
        grantees = {grant["Grantee"].get("URI") for grant in grants}
        assert not grantees & PUBLIC_GRANTEES, f"{key} is readable by {grantees}"
        anonymous = requests.get(f"{moto_server.endpoint_url}/{bucket}/{key}", timeout=TIMEOUT)
        assert anonymous.status_code == 403, key


def test_the_gateway_passes_the_signed_request_to_the_bucket_unchanged(
    moto_server: MotoServer, bucket: str, s3_stack_factory
) -> None:
    stack = s3_stack_factory("droplet", moto_server, bucket)
    stored = upload(stack.url)
    client = moto_server.client()
    for url in (stored["edges_url"], stored["original_url"]):
        path, query = urlsplit(url).path, urlsplit(url).query
        assert "X-Amz-Signature=" in query, url
        key = path.removeprefix("/results/")
        served = requests.get(stack.url + url, timeout=TIMEOUT)
        assert served.status_code == 200, url
        assert served.content == client.get_object(Bucket=bucket, Key=key)["Body"].read()
        # The request line the bucket received: the signed path-style path and query
        # (moto's log prints it percent-decoded).
        received = f"GET /{bucket}/{key}?{unquote(query)} HTTP"
        assert received in moto_server.log_path.read_text(), url
        unsigned = requests.get(stack.url + path, timeout=TIMEOUT)
        assert unsigned.status_code == 404, "a private object was served without a signature"
        assert unsigned.json()["error"]["code"] == "not_found"
    logged = stack.access_log.read_text()
    assert "X-Amz-Signature" not in logged
    assert TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"] + "%2F" not in logged
    assert f"/results/{stored['id']}.png?[signed]" in logged
