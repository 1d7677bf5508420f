"""app/compose.yaml: valid for the compose spec and docker-compose, and the platform's rules
(one public port, loopback-only monitoring, pinned images, health, limits, read-only)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from canny.settings import Settings

from tests.unit.compose.compose_project import (
    APP_DIR,
    COMPOSE_FILE,
    REQUIRED_VARS,
    compose_env,
)

APP_SERVICES = {"gateway", "backend"}
MONITORING_SERVICES = {
    "prometheus",
    "cadvisor",
    "node-exporter",
    "nginx-exporter",
    "gateway-log-exporter",
}
# Only on the stack's first droplet: one fleet Prometheus and one Alertmanager per stack.
MONITOR_SERVICES = {"fleet-prometheus", "alertmanager"}
# Its upstream image is built FROM scratch: no shell or client to probe with. Prometheus
# watches it instead (ScrapeTargetMissing).
WITHOUT_HEALTHCHECK = {"nginx-exporter"}

COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]


def test_matches_the_compose_spec() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"compose spec violations:\n{result.stdout}{result.stderr}"


def compose_config(compose: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [compose, "-f", str(COMPOSE_FILE), "--profile", "monitoring", "config", "-q"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_docker_compose_accepts_it(require_tool: Callable[[str], str]) -> None:
    result = compose_config(require_tool("docker-compose"), compose_env())
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"


@pytest.mark.parametrize("missing", REQUIRED_VARS)
def test_a_missing_image_variable_fails_loudly(
    require_tool: Callable[[str], str], missing: str
) -> None:
    result = compose_config(require_tool("docker-compose"), compose_env(**{missing: ""}))
    assert result.returncode != 0, f"config passed without {missing}"
    assert f"set {missing} to" in result.stderr, f"unhelpful error: {result.stderr}"


def test_has_no_version_key() -> None:
    assert "version" not in COMPOSE, "the compose spec has no `version:`; drop it"


def test_services_are_the_app_and_the_monitoring_profile() -> None:
    assert set(SERVICES) == APP_SERVICES | MONITORING_SERVICES | MONITOR_SERVICES, sorted(SERVICES)
    profiles = {name: service.get("profiles", []) for name, service in SERVICES.items()}
    for name in APP_SERVICES:
        assert profiles[name] == [], f"{name} must run without a profile, has {profiles[name]}"
    for name in MONITORING_SERVICES:
        assert profiles[name] == ["monitoring"], f"{name} must be in the monitoring profile"
    for name in MONITOR_SERVICES:
        assert profiles[name] == ["monitor"], f"{name} must be in the monitor profile"


def test_only_the_gateway_is_public_and_on_port_80_by_default() -> None:
    assert SERVICES["gateway"]["ports"] == ["${GATEWAY_PUBLISH:-80}:8080"]
    for name in APP_SERVICES - {"gateway"}:
        assert "ports" not in SERVICES[name], f"{name} must publish nothing"


@pytest.mark.parametrize("name", sorted((MONITORING_SERVICES | MONITOR_SERVICES) - {"prometheus"}))
def test_monitoring_ports_are_bound_to_loopback(name: str) -> None:
    for port in SERVICES[name].get("ports", []):
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_the_droplet_prometheus_is_published_on_metrics_bind_only() -> None:
    """The fleet Prometheus federates it over the VPC: the deploy sets METRICS_BIND to the
    droplet's private address; unset, it stays on loopback, never on every interface."""
    assert SERVICES["prometheus"]["ports"] == ["${METRICS_BIND:-127.0.0.1}:9090:9090"]


def test_backends_are_internal_only() -> None:
    assert COMPOSE["networks"]["internal"] == {"internal": True}
    assert SERVICES["backend"]["networks"] == ["internal"], "backends must not reach outside"


@pytest.mark.parametrize(
    ("name", "mount"),
    [
        ("backend", "results:/srv/results"),
        ("gateway", "results:/srv/results:ro"),
    ],
)
def test_results_volume_is_shared_read_only_for_the_gateway(name: str, mount: str) -> None:
    assert mount in SERVICES[name]["volumes"], f"{name} volumes: {SERVICES[name]['volumes']}"


def tmpfs_mounts(service: dict) -> dict[str, str]:
    """A service's tmpfs mounts: path -> options."""
    return dict(mount.partition(":")[::2] for mount in service.get("tmpfs", []))


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("backend", "PROMETHEUS_MULTIPROC_DIR"),
        ("gateway", "CANNY_TEMP_DIR"),
    ],
)
def test_metrics_and_nginx_temp_files_have_a_tmpfs_of_their_own(name: str, variable: str) -> None:
    """A full results volume (or a full /tmp) must not break uploads or kill workers."""
    service = SERVICES[name]
    folder = service["environment"][variable]
    mounts = tmpfs_mounts(service)
    assert folder in mounts, f"{name}: {variable}={folder} is not a tmpfs mount: {mounts}"
    assert "size=" in mounts[folder], f"{name}: the {folder} tmpfs needs a size"
    volume_paths = [volume.split(":")[1] for volume in service.get("volumes", [])]
    assert not any(folder.startswith(path) for path in [*volume_paths, "/tmp"]), folder


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_images_come_from_required_variables(name: str) -> None:
    image = SERVICES[name]["image"]
    kind = "gateway" if name == "gateway" else "backend"
    assert image.startswith("${REGISTRY_IMAGE:?"), image
    assert f"}}/{kind}:${{IMAGE_TAG:?" in image, image


@pytest.mark.parametrize("name", sorted(MONITORING_SERVICES))
def test_upstream_images_are_pinned(name: str) -> None:
    repository, _, tag = SERVICES[name]["image"].rpartition(":")
    assert repository and "/" not in tag, f"{name} image has no tag"
    assert tag not in ("latest", ""), f"{name} image must pin a version, not {tag!r}"


@pytest.mark.parametrize("name", sorted(set(SERVICES) - WITHOUT_HEALTHCHECK))
def test_services_have_a_healthcheck(name: str) -> None:
    test = SERVICES[name].get("healthcheck", {}).get("test", [])
    assert test and test[0] == "CMD", f"{name} needs a healthcheck command, has {test}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_wait_for_health(name: str) -> None:
    for dependency, condition in SERVICES[name].get("depends_on", {}).items():
        assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


def test_gateway_waits_for_the_backends_and_finds_them_by_the_service_name() -> None:
    """nginx resolves `backend` once, at start, to every replica Docker's DNS knows then."""
    assert set(SERVICES["gateway"]["depends_on"]) == {"backend"}
    assert SERVICES["gateway"]["environment"]["CANNY_BACKENDS"] == "backend:8000"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_restart_limits_read_only_and_log_rotation(name: str) -> None:
    service = SERVICES[name]
    assert service.get("restart") == "unless-stopped", f"{name} restart policy"
    assert service.get("mem_limit") and service.get("cpus"), f"{name} needs mem and cpu limits"
    assert service.get("read_only") is True, f"{name} root filesystem must be read-only"
    logging = service.get("logging", {})
    assert logging.get("driver") == "json-file", f"{name} logging: {logging}"
    assert logging.get("options", {}).get("max-size"), f"{name} logs must rotate"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_drop_privileges(name: str) -> None:
    service = SERVICES[name]
    assert service["cap_drop"] == ["ALL"], f"{name} keeps capabilities"
    assert "no-new-privileges:true" in service["security_opt"], name
    assert any(mount.startswith("/tmp:") for mount in service["tmpfs"]), f"{name} needs /tmp"


def test_prometheus_keeps_bounded_data_in_a_volume() -> None:
    prometheus = SERVICES["prometheus"]
    assert "prometheus-data:/prometheus" in prometheus["volumes"]
    assert "prometheus-data" in COMPOSE["volumes"]
    flags = " ".join(prometheus["command"])
    assert "--storage.tsdb.retention.time=" in flags, flags
    assert "--storage.tsdb.retention.size=" in flags, flags


def test_bind_mounted_config_ships_in_the_bundle() -> None:
    """Relative sources are the files the deploy must copy next to compose.yaml."""
    relative = [
        volume.split(":")[0]
        for service in SERVICES.values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    assert relative, "expected the monitoring config to be bind-mounted"
    for source in relative:
        assert (APP_DIR / source).is_file(), f"{source} is mounted but missing from app/"


def test_the_upload_limit_is_set_once_for_the_gateway_and_the_backends() -> None:
    """One CANNY_MAX_UPLOAD_BYTES, defaulting to the backend's own default: the gateway
    derives its body limit from it, so no second limit may be written beside it."""
    text = COMPOSE_FILE.read_text()
    assert text.count("${CANNY_MAX_UPLOAD_BYTES:-") == 1, "the upload limit is written twice"
    assert "CANNY_MAX_BODY" not in text, "the gateway derives its body limit; do not set it"
    values = {
        name: SERVICES[name]["environment"]["CANNY_MAX_UPLOAD_BYTES"] for name in APP_SERVICES
    }
    assert len(set(values.values())) == 1, values
    default = values["gateway"].removeprefix("${CANNY_MAX_UPLOAD_BYTES:-").removesuffix("}")
    assert int(default) == Settings.model_fields["max_upload_bytes"].default


def test_docker_compose_hands_the_deploys_upload_limit_to_every_app_service(
    require_tool: Callable[[str], str],
) -> None:
    command = [require_tool("docker-compose"), "-f", str(COMPOSE_FILE), "config"]
    env = compose_env(CANNY_MAX_UPLOAD_BYTES="5000000")
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["CANNY_MAX_UPLOAD_BYTES"] == "5000000", name


BACKEND_DIGEST = "sha256:" + "b" * 64
GATEWAY_DIGEST = "sha256:" + "9" * 64


def compose_images(compose: str, env: dict[str, str]) -> set[str]:
    """The image of each app service as compose resolves it (`config` prints the result)."""
    command = [compose, "-f", str(COMPOSE_FILE), "config"]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    services = yaml.safe_load(result.stdout)["services"]
    return {services[name]["image"] for name in APP_SERVICES}


def test_a_release_runs_its_images_by_digest(require_tool: Callable[[str], str]) -> None:
    """What a droplet's compose pulls once deploy.sh pinned the release's digests: the tag
    names the release, the digest decides the bytes (pull by digest:
    tests/integration/containers/test_pull_by_digest.py)."""
    env = compose_env(BACKEND_PIN=f"@{BACKEND_DIGEST}", GATEWAY_PIN=f"@{GATEWAY_DIGEST}")
    assert compose_images(require_tool("docker-compose"), env) == {
        f"registry.example.com/canny/backend:abc123@{BACKEND_DIGEST}",
        f"registry.example.com/canny/gateway:abc123@{GATEWAY_DIGEST}",
    }


def test_without_digests_the_images_run_by_tag(require_tool: Callable[[str], str]) -> None:
    assert compose_images(require_tool("docker-compose"), compose_env()) == {
        "registry.example.com/canny/backend:abc123",
        "registry.example.com/canny/gateway:abc123",
    }


def test_the_gateway_log_exporter_runs_the_gateways_own_image() -> None:
    """mtail comes in the gateway image: the same tag and the same digest pin."""
    assert SERVICES["gateway-log-exporter"]["image"] == SERVICES["gateway"]["image"]
