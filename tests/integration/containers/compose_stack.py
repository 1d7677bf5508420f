"""app/compose.yaml run for real with Debian's docker-compose 1.29 against a private dockerd.

1.29 has no `up --wait`, so health is polled through `docker inspect`. The gateway is
published on 127.0.0.1 only, through the compose file's own GATEWAY_PUBLISH knob.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from infra.rehearse.docker_daemon import PrivateDockerDaemon, run_checked
from localrun.backends import backend_count
from tests.owner_keys_for_tests import TEST_OWNER_KEY_SECRET
from tests.unit.backend import sample_images

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO_ROOT / "app" / "compose.yaml"
APP_SERVICES = ("gateway", "backend")
# app/compose.yaml's services.backend.deploy.replicas, read as ./run reads it.
BACKEND_REPLICAS = backend_count(COMPOSE_FILE)
HEALTHY_TIMEOUT_S = 180


@dataclass(frozen=True)
class Container:
    service: str
    # The replica's number (com.docker.compose.container-number): 1 unless scaled.
    number: int
    id: str
    image: str
    health: str
    ports: dict[str, list[dict[str, str]] | None]


class ComposeStack:
    def __init__(
        self,
        daemon: PrivateDockerDaemon,
        compose: str,
        *,
        project: str,
        registry_image: str,
        image_tag: str,
        gateway_port: int,
        overrides: tuple[Path, ...] = (),
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """`overrides`: compose files merged over app/compose.yaml, as deploy.sh's
        COMPOSE_FILE adds them; `settings`: variables the droplet's .env would hold."""
        self.daemon = daemon
        self.compose = compose
        self.project = project
        self.url = f"http://127.0.0.1:{gateway_port}"
        self.files = (COMPOSE_FILE, *overrides)
        self.env = {
            **daemon.env,
            **(settings or {}),
            "REGISTRY_IMAGE": registry_image,
            "IMAGE_TAG": image_tag,
            "CANNY_OWNER_KEY_SECRETS": TEST_OWNER_KEY_SECRET,
            "GATEWAY_PUBLISH": f"127.0.0.1:{gateway_port}",
        }

    def run(self, *args: str, timeout: float = 180) -> str:
        files = [argument for path in self.files for argument in ("-f", str(path))]
        command = [self.compose, "-p", self.project, *files, *args]
        return run_checked(command, env=self.env, timeout=timeout, cwd=COMPOSE_FILE.parent)

    def up(self) -> None:
        self.run("up", "-d", "--no-build")
        self.wait_healthy()

    def down(self, *, volumes: bool = False) -> None:
        self.run("down", "--remove-orphans", *(["--volumes"] if volumes else []))

    def containers(self) -> list[Container]:
        ids = self.run("ps", "-q").split()
        if not ids:
            return []
        found = []
        for item in json.loads(self.daemon.docker("inspect", *ids)):
            health = item["State"].get("Health", {}).get("Status", "none")
            found.append(
                Container(
                    service=item["Config"]["Labels"]["com.docker.compose.service"],
                    number=int(item["Config"]["Labels"]["com.docker.compose.container-number"]),
                    id=item["Id"],
                    image=item["Config"]["Image"],
                    health=health if item["State"]["Running"] else item["State"]["Status"],
                    ports=item["NetworkSettings"]["Ports"] or {},
                )
            )
        return found

    def container(self, service: str, number: int = 1) -> Container:
        matching = [c for c in self.containers() if (c.service, c.number) == (service, number)]
        assert len(matching) == 1, f"expected one {service} #{number} container, got {matching}"
        return matching[0]

    def wait_healthy(self, services: tuple[str, ...] = APP_SERVICES) -> None:
        """Poll until each service's container reports healthy (bounded)."""
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            health = {(c.service, c.number): c.health for c in self.containers()}
            if all(health.get(key) == "healthy" for key in expected_containers(services)):
                return
            time.sleep(1)
        logs = self.run("logs", "--tail=30", "--no-color")
        raise AssertionError(
            f"services not healthy after {HEALTHY_TIMEOUT_S}s: {health}\n{logs[-6000:]}"
        )


def upload(http: requests.Session, stack: ComposeStack, seed: int) -> dict:
    image = sample_images.encode(sample_images.shapes(seed=seed))
    response = http.post(
        f"{stack.url}/api/images", files={"file": ("sample.png", image, "image/png")}, timeout=30
    )
    assert response.status_code == 201, f"upload answered {response.status_code}: {response.text}"
    return response.json()


def expected_containers(services: tuple[str, ...]) -> list[tuple[str, int]]:
    """(service, replica number) of every container the services run: the backend's
    replicas, one of anything else."""
    return [
        (service, number)
        for service in services
        for number in range(1, (BACKEND_REPLICAS if service == "backend" else 1) + 1)
    ]
