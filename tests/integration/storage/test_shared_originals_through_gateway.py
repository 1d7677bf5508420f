"""Issue 28 through a running stack (gateway, two backends, a bucket): re-runs of one TIFF
share one stored original and view, served through /results/ until its owner's last
result of it goes, and the byte quota answers 507 through the gateway."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import requests

from infra.rehearse.s3_emulator import MotoServer
from localrun import LocalStack
from tests.integration.storage.conftest import s3_storage_env
from tests.unit.backend import sample_images

TIMEOUT = 60


def bucket_keys(server: MotoServer, bucket: str, suffix: str) -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return [entry["Key"] for entry in listed if entry["Key"].endswith(suffix)]


def test_reruns_share_one_original_until_the_last_goes_and_bytes_are_capped(
    moto_server: MotoServer, bucket: str, tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("nginx")
    tiff = sample_images.encode(sample_images.shapes(), "tiff")
    large = sample_images.encode(sample_images.noise(400, 300), "tiff")
    environment = {
        **s3_storage_env(moto_server, bucket),
        # Room for the TIFF, its view and two edge maps, not for the large one as well.
        "CANNY_OWNER_MAX_BYTES": str(2 * len(tiff) + 50_000),
    }
    stack = LocalStack(
        tmp_path / "droplet", upload_rate="1000r/s", upload_burst=1000, storage_env=environment
    )
    stack.start()
    try:
        first = requests.post(
            f"{stack.url}/api/images", files={"file": ("a.tiff", tiff)}, timeout=TIMEOUT
        )
        assert first.status_code == 201, first.text
        key = {"Authorization": f"Bearer {first.json()['owner_key']}"}
        rerun = requests.post(
            f"{stack.url}/api/images/{first.json()['id']}/rerun",
            json={"low": 10},
            headers=key,
            timeout=TIMEOUT,
        )
        assert rerun.status_code == 201, rerun.text
        # Signed afresh in every answer: the paths are what is shared.
        assert (
            urlsplit(rerun.json()["original_url"]).path
            == urlsplit(first.json()["original_url"]).path
        )
        assert len(bucket_keys(moto_server, bucket, ".orig.tiff")) == 1
        assert len(bucket_keys(moto_server, bucket, ".view.png")) == 1

        refused = requests.post(
            f"{stack.url}/api/images",
            files={"file": ("b.tiff", large)},
            headers=key,
            timeout=TIMEOUT,
        )
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["code"] == "quota_exceeded"
        assert "CANNY_OWNER_MAX_BYTES" in refused.json()["error"]["message"]

        deleted = requests.delete(
            f"{stack.url}/api/images/{first.json()['id']}", headers=key, timeout=TIMEOUT
        )
        assert deleted.status_code == 204
        kept = requests.get(
            f"{stack.url}/api/images/{rerun.json()['id']}", headers=key, timeout=TIMEOUT
        )
        kept = kept.json()
        original = requests.get(stack.url + kept["original_url"], timeout=TIMEOUT)
        assert original.status_code == 200 and original.content == tiff
        assert requests.get(stack.url + kept["view_url"], timeout=TIMEOUT).status_code == 200

        last = requests.delete(
            f"{stack.url}/api/images/{rerun.json()['id']}", headers=key, timeout=TIMEOUT
        )
        assert last.status_code == 204
        assert bucket_keys(moto_server, bucket, ".orig.tiff") == []
        assert bucket_keys(moto_server, bucket, ".view.png") == []
        gone = urlsplit(kept["original_url"]).path
        assert requests.get(stack.url + gone, timeout=TIMEOUT).status_code == 404
    finally:
        stack.stop()
