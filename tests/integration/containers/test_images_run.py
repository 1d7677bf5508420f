"""The built images on their own, without compose: their users, the gateway entrypoint's
refusal of an incomplete config, and no build-time CA certificate left in the backend."""

from __future__ import annotations

import subprocess

import pytest

from infra.rehearse.docker_daemon import PrivateDockerDaemon
from localrun.nginx_config import gateway_body_limit

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def run_image(
    daemon: PrivateDockerDaemon, image: str, options: list[str], command: list[str]
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [daemon.docker_cli, "run", "--rm", "--network=none", *options, image, *command],
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("kind", "uid"), [("backend", "10001"), ("gateway", "10002")])
def test_images_run_as_their_non_root_user(
    docker_daemon: PrivateDockerDaemon, app_images: dict[str, str], kind: str, uid: str
) -> None:
    result = run_image(docker_daemon, app_images[kind], ["--entrypoint=id"], ["-u"])
    assert result.stdout.strip() == uid, f"{kind} runs as {result.stdout!r} {result.stderr}"


@pytest.mark.parametrize("name", ["CANNY_BACKENDS", "CANNY_RESULTS_DIR"])
def test_gateway_refuses_to_start_with_an_empty_placeholder(
    docker_daemon: PrivateDockerDaemon, app_images: dict[str, str], name: str
) -> None:
    result = run_image(docker_daemon, app_images["gateway"], ["--read-only", f"--env={name}="], [])
    assert result.returncode == 64, f"exit {result.returncode}: {result.stderr}"
    assert f"{name} is not set" in result.stderr, result.stderr


def gateway_config(daemon: PrivateDockerDaemon, images: dict[str, str], environment: str) -> str:
    """The config the entrypoint rendered with one more CANNY_* variable, as `nginx -T`
    prints it (backends by address: the container has no network to resolve compose's
    names)."""
    options = [
        "--read-only",
        "--tmpfs=/tmp",
        f"--env={environment}",
        "--env=CANNY_BACKENDS=127.0.0.1:8000 127.0.0.1:8001",
    ]
    result = run_image(daemon, images["gateway"], options, ["-T"])
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gateway_renders_trusted_proxies_as_set_real_ip_from(
    docker_daemon: PrivateDockerDaemon, app_images: dict[str, str]
) -> None:
    config = gateway_config(
        docker_daemon, app_images, "CANNY_TRUSTED_PROXIES=10.110.0.0/20 192.0.2.7"
    )
    assert "set_real_ip_from 10.110.0.0/20; set_real_ip_from 192.0.2.7;" in config


def test_gateway_derives_its_body_limit_from_the_upload_limit(
    docker_daemon: PrivateDockerDaemon, app_images: dict[str, str]
) -> None:
    """The image's one limit input is the backends' CANNY_MAX_UPLOAD_BYTES; nginx admits
    that plus the 64 KiB multipart envelope, as localrun renders it."""
    config = gateway_config(docker_daemon, app_images, "CANNY_MAX_UPLOAD_BYTES=1000000")
    assert f"client_max_body_size {gateway_body_limit(1_000_000)};" in config


def test_gateway_refuses_a_trusted_proxy_that_is_not_an_address(
    docker_daemon: PrivateDockerDaemon, app_images: dict[str, str]
) -> None:
    options = ["--read-only", "--env=CANNY_TRUSTED_PROXIES=10.0.0.0/8;allow"]
    result = run_image(docker_daemon, app_images["gateway"], options, [])
    assert result.returncode == 64, f"exit {result.returncode}: {result.stderr}"
    assert "is not an address or CIDR" in result.stderr, result.stderr


def test_backend_keeps_no_build_time_ca_certificate(
    docker_daemon: PrivateDockerDaemon, app_images: dict[str, str]
) -> None:
    result = run_image(
        docker_daemon,
        app_images["backend"],
        ["--entrypoint=find"],
        ["/usr", "/etc", "-name", "build-extra*"],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"extra CA certificates left in the image: {result.stdout}"
