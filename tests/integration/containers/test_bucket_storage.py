"""Results in a bucket with the real images and compose's real networks, as prod runs them:
CANNY_STORAGE=s3 with the compose files deploy.sh picks for it (compose.yaml, then
compose.bucket-egress.yaml). The bucket is a moto S3 server in a network namespace of its
own, which the backends reach only by egress through the host, the way a droplet's backends
reach Spaces; never on the host's 127.0.0.1, which containers cannot reach anyway.

With compose.yaml alone the backends sit only on the `internal` network, /readyz's real
put_object cannot reach the bucket and the stack never becomes healthy (issue 24).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import requests

from infra.bundle import REMOTE_SCRIPTS_DIR
from infra.rehearse.docker_daemon import PrivateDockerDaemon
from infra.rehearse.s3_emulator import REGION, TEST_CREDENTIALS, MotoServer
from tests.conftest import pick_free_port
from tests.integration.containers.compose_stack import ComposeStack, expected_containers, upload
from tests.integration.containers.conftest import IMAGE_TAG, REGISTRY_IMAGE
from tests.integration.containers.outside_host import outside_host

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

BUCKET_EGRESS = REMOTE_SCRIPTS_DIR / "compose.bucket-egress.yaml"


@pytest.fixture(scope="module")
def outside_bucket(
    require_tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MotoServer]:
    with outside_host(require_tool("ip"), require_tool("nsenter")) as outside:
        log = tmp_path_factory.mktemp("outside-bucket") / "moto_server.log"
        server = MotoServer(
            require_tool("moto_server"),
            pick_free_port(),
            log,
            address=outside.address,
            launcher=outside.launcher(),
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def bucket_stack(
    docker_daemon: PrivateDockerDaemon,
    app_images: dict[str, str],
    require_tool: Callable[[str], str],
    outside_bucket: MotoServer,
) -> Iterator[tuple[ComposeStack, str]]:
    bucket = outside_bucket.new_bucket()
    stack = ComposeStack(
        docker_daemon,
        require_tool("docker-compose"),
        project="canny-bucket-itest",
        registry_image=REGISTRY_IMAGE,
        image_tag=IMAGE_TAG,
        gateway_port=pick_free_port(),
        overrides=(BUCKET_EGRESS,),
        # What deploy.sh and storage_credentials.sh put in the droplet's .env for a bucket.
        settings={
            "CANNY_STORAGE": "s3",
            "CANNY_S3_BUCKET": bucket,
            "CANNY_S3_ENDPOINT_URL": outside_bucket.endpoint_url,
            "CANNY_S3_REGION": REGION,
            "CANNY_RESULTS_BUCKET_URL": f"{outside_bucket.endpoint_url}/{bucket}",
            **TEST_CREDENTIALS,
        },
    )
    stack.down(volumes=True)
    try:
        stack.up()
        yield stack, bucket
    finally:
        stack.down(volumes=True)


def test_backends_are_ready_and_uploads_land_in_the_bucket(
    bucket_stack: tuple[ComposeStack, str], outside_bucket: MotoServer
) -> None:
    stack, bucket = bucket_stack
    http = requests.Session()
    http.trust_env = False
    created = upload(http, stack, seed=4)

    keys = {
        item["Key"] for item in outside_bucket.client().list_objects_v2(Bucket=bucket)["Contents"]
    }
    assert f"{created['id']}.png" in keys, f"the upload is not in the bucket: {sorted(keys)}"
    edges = http.get(f"{stack.url}{created['edges_url']}", timeout=10)
    assert edges.status_code == 200, f"{created['edges_url']} answered {edges.status_code}"


def test_the_egress_network_holds_the_backends_alone_and_publishes_nothing(
    bucket_stack: tuple[ComposeStack, str], docker_daemon: PrivateDockerDaemon
) -> None:
    stack, _ = bucket_stack
    networks = {
        (container.service, container.number): sorted(
            json.loads(docker_daemon.docker("inspect", container.id))[0]["NetworkSettings"][
                "Networks"
            ]
        )
        for container in stack.containers()
    }
    egress = f"{stack.project}_bucket-egress"
    backends = expected_containers(("backend",))
    assert sorted(key for key, names in networks.items() if egress in names) == backends, networks
    for service, number in backends:
        ports = stack.container(service, number).ports
        assert ports in ({}, {"8000/tcp": None}), f"{service} #{number} publishes {ports}"
