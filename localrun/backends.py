"""How many backends `./run` starts: as many as a droplet runs.

The droplet's compose file is the one place the number of backends is written
(`services.backend.deploy.replicas` in app/compose.yaml); the gateway and Prometheus find
the replicas there by the service's name, and `./run` reads the same number here, so
adding a backend is one edit (docs/architecture.md, "Adding a backend").
"""

from pathlib import Path

import yaml

from localrun.nginx_config import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "app" / "compose.yaml"
BACKEND_SERVICE = "backend"


class BackendCountError(ValueError):
    """The compose file does not say how many backends to run."""


def backend_count(compose_file: Path = COMPOSE_FILE) -> int:
    """`deploy.replicas` of the compose file's backend service: a whole number, at least 1."""
    services = yaml.safe_load(compose_file.read_text(encoding="utf-8")).get("services", {})
    replicas = services.get(BACKEND_SERVICE, {}).get("deploy", {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
        raise BackendCountError(
            f"{compose_file}: services.{BACKEND_SERVICE}.deploy.replicas must be a whole "
            f"number of backends, at least 1 (found {replicas!r})"
        )
    return replicas


def backend_names(count: int) -> list[str]:
    """The local backends' names, as Compose names the replicas' containers' suffixes:
    backend-1, backend-2, ... (logs, the supervisor's messages, Prometheus' `instance`)."""
    return [f"{BACKEND_SERVICE}-{number}" for number in range(1, count + 1)]
