"""With S3 storage the gateway's /results/ proxies the bucket: result objects only, never
a listing, never metadata, with the gateway's private cache header; both renderings of
the template (localrun, the container's entrypoint) say the same."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from localrun.nginx_config import results_source_directives
from tests.integration.gateway.entrypoint_on_host import run_entrypoint
from tests.integration.gateway.gateway_client import png
from tests.owner_keys_for_tests import issued_test_key

OWNER = {"Authorization": f"Bearer {issued_test_key()}"}
TIMEOUT = 30
PRIVATE_FOREVER = "private, max-age=31536000, immutable"


def test_result_images_come_from_the_bucket_and_nothing_else_does(
    moto_server, bucket: str, s3_stack_factory
) -> None:
    stack = s3_stack_factory("droplet", moto_server, bucket)
    stored = requests.post(
        f"{stack.url}/api/images", files={"file": ("a.png", png(3))}, headers=OWNER, timeout=TIMEOUT
    ).json()
    image_id = stored["id"]
    assert not any(stack.results_dir.iterdir()), "results were written to the local folder"
    client = moto_server.client()
    for url in (stored["edges_url"], stored["original_url"]):
        answer = requests.get(stack.url + url, timeout=TIMEOUT)
        assert answer.status_code == 200, url
        key = urlsplit(url).path.removeprefix("/results/")
        assert answer.content == client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.headers["Cache-Control"] == PRIVATE_FOREVER
        assert "x-amz-request-id" not in answer.headers
        assert "Set-Cookie" not in answer.headers

    private_paths = [
        "/results/",
        f"/results/{image_id}.json",
        f"/results/owners/{'0' * 64}/ids/{image_id}.json",
        f"/results/{'0' * 32}.png",  # not stored: the bucket's 404, answered as ours
        "/results/?list-type=2",
    ]
    for path in private_paths:
        answer = requests.get(stack.url + path, timeout=TIMEOUT)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found", path
    refused = requests.delete(stack.url + stored["edges_url"], timeout=TIMEOUT)
    assert refused.status_code >= 400
    assert client.head_object(Bucket=bucket, Key=f"{image_id}.png")["ContentLength"] > 0


@pytest.mark.parametrize(
    "environment",
    [
        {"CANNY_RESULTS_DIR": "/srv/results"},
        {
            "CANNY_RESULTS_DIR": "/srv/results",
            "CANNY_RESULTS_BUCKET_URL": "http://127.0.0.1:9000/b-1",
        },
        {"CANNY_RESULTS_BUCKET_URL": "https://fra1.digitaloceanspaces.com/canny-prod"},
    ],
)
def test_the_entrypoint_renders_the_results_source_as_localrun_does(
    tmp_path: Path, environment: dict[str, str], require_tool
) -> None:
    require_tool("envsubst")
    run = run_entrypoint(tmp_path, {"CANNY_RESULTS_DIR": "", **environment})
    assert run.returncode == 0, run.stderr
    expected = results_source_directives(
        Path(environment.get("CANNY_RESULTS_DIR", "")),
        environment.get("CANNY_RESULTS_BUCKET_URL", ""),
    )
    assert expected in run.config


def test_a_bucket_url_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="bucket URL"):
        results_source_directives(Path("/srv"), "https://fra1.digitaloceanspaces.com/a/b")
