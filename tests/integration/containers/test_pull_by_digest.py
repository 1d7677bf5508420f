"""A release's images are pulled by digest: app/compose.yaml with deploy.sh's pins against a
real registry (Debian's docker-registry) and a private dockerd, after the release's tag was
pushed again with other bytes (a rebuild, a retried job, anyone with push rights)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.rehearse.docker_daemon import PrivateDockerDaemon
from tests import registry_process
from tests.unit.compose.compose_project import COMPOSE_FILE, compose_env

TAG = "tested-0123456789abcdef0123456789abcdef01234567"
IMAGES = ("backend", "gateway")


@pytest.fixture
def registry(tmp_path: Path, require_tool: Callable[[str], str]) -> Iterator[str]:
    """host:port of a registry on loopback (dockerd pushes there over plain HTTP)."""
    with registry_process.serving(require_tool("docker-registry"), tmp_path) as host:
        yield host


def push_build(daemon: PrivateDockerDaemon, tmp_path: Path, reference: str, build: str) -> str:
    """A one-file image as `reference`, pushed; its image id."""
    data = build.encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        entry = tarfile.TarInfo("build")
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
    path = tmp_path / f"{build}.tar"
    path.write_bytes(archive.getvalue())
    image_id = daemon.docker("import", str(path), reference).strip()
    daemon.docker("push", reference)
    return image_id


def repo_digest(daemon: PrivateDockerDaemon, reference: str) -> str:
    found = daemon.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", reference)
    return found.strip().split("@", 1)[1]


def pull(daemon: PrivateDockerDaemon, compose: str, env: dict[str, str]) -> None:
    command = [compose, "-f", str(COMPOSE_FILE), "pull", "backend", "gateway"]
    subprocess.run(command, env=daemon.env | env, check=True, capture_output=True, timeout=120)


def test_a_pinned_release_pulls_what_was_tested_though_its_tag_moved(
    docker_daemon: PrivateDockerDaemon,
    registry: str,
    tmp_path: Path,
    require_tool: Callable[[str], str],
) -> None:
    compose = require_tool("docker-compose")
    path = f"{registry}/acme/canny"
    tested, digests, moved = {}, {}, {}
    for image in IMAGES:
        reference = f"{path}/{image}:{TAG}"
        tested[image] = push_build(docker_daemon, tmp_path, reference, f"{image}-tested")
        digests[image] = repo_digest(docker_daemon, reference)
        moved[image] = push_build(docker_daemon, tmp_path, reference, f"{image}-rebuilt")
    assert tested != moved

    def pulled_ids(env: dict[str, str]) -> dict[str, str]:
        for image in IMAGES:
            for image_id in (tested[image], moved[image]):
                docker_daemon.docker("image", "rm", "--force", image_id, check=False)
        pull(docker_daemon, compose, env)
        ids = {}
        for image in IMAGES:
            name = f"{path}/{image}"
            listing = docker_daemon.docker("image", "ls", "--no-trunc", "--format", "{{.ID}}", name)
            ids[image] = listing.split()[0]
        return ids

    env = compose_env(REGISTRY_IMAGE=path, IMAGE_TAG=TAG)
    assert pulled_ids(env) == moved, "by tag (the old way) compose pulls whatever the tag is now"
    pins = {f"{image.upper()}_PIN": f"@{digests[image]}" for image in IMAGES}
    assert pulled_ids(env | pins) == tested, "by digest compose pulls exactly the tested bytes"
