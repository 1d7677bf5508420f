"""Fixtures for the real container tests: a private dockerd, the two app images built
from the repository, and app/compose.yaml brought up with docker-compose."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.rehearse.base_image import ensure_base_image
from infra.rehearse.docker_daemon import (
    DockerStartError,
    PrivateDockerDaemon,
    cache_dir,
)
from tests.conftest import missing_tool, pick_free_port
from tests.integration.containers.compose_stack import REPO_ROOT, ComposeStack

REGISTRY_IMAGE = "canny-test"
IMAGE_TAG = "itest"
BUILD_TIMEOUT_S = 600
# The host's own CA certificates: this network inspects TLS, so pip in the backend
# build needs them, exactly like a user behind a corporate proxy would.
HOST_EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


@pytest.fixture(scope="session")
def docker_daemon(require_tool: Callable[[str], str]) -> Iterator[PrivateDockerDaemon]:
    daemon = PrivateDockerDaemon(require_tool("dockerd"), require_tool("docker"), cache_dir())
    try:
        daemon.start()
    except DockerStartError as error:
        daemon.stop()
        missing_tool(f"Docker cannot start here: {error}")
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def app_images(
    docker_daemon: PrivateDockerDaemon, require_tool: Callable[[str], str]
) -> dict[str, str]:
    """Build both images from the working tree (contexts app/backend and app/, never the
    Docker cache); layers are reused from earlier runs."""
    ensure_base_image(docker_daemon, require_tool("debootstrap"), docker_daemon.run_dir)
    images = {
        "backend": f"{REGISTRY_IMAGE}/backend:{IMAGE_TAG}",
        "gateway": f"{REGISTRY_IMAGE}/gateway:{IMAGE_TAG}",
    }
    extra_ca = "".join(
        cert.read_text() for cert in sorted(HOST_EXTRA_CA_DIR.glob("**/*.crt")) if cert.is_file()
    )
    docker_daemon.docker(
        "build",
        "--tag",
        images["backend"],
        "--build-arg",
        f"EXTRA_CA_CERTS={extra_ca}",
        str(REPO_ROOT / "app" / "backend"),
        timeout=BUILD_TIMEOUT_S,
    )
    docker_daemon.docker(
        "build",
        "--tag",
        images["gateway"],
        "--file",
        str(REPO_ROOT / "app" / "gateway" / "Dockerfile"),
        str(REPO_ROOT / "app"),
        timeout=BUILD_TIMEOUT_S,
    )
    # Superseded builds would pile up in the cache run after run; untagged images younger
    # than a week stay, since the backend's build stage (untagged) is the pip layer cache.
    docker_daemon.docker("image", "prune", "--force", "--filter", "until=168h")
    return images


@pytest.fixture(scope="module")
def compose_stack(
    docker_daemon: PrivateDockerDaemon,
    app_images: dict[str, str],
    require_tool: Callable[[str], str],
) -> Iterator[ComposeStack]:
    stack = ComposeStack(
        docker_daemon,
        require_tool("docker-compose"),
        project="canny-itest",
        registry_image=REGISTRY_IMAGE,
        image_tag=IMAGE_TAG,
        gateway_port=pick_free_port(),
    )
    # An interrupted earlier run may have left the project behind in the cache.
    stack.down(volumes=True)
    try:
        stack.up()
        yield stack
    finally:
        stack.down(volumes=True)
