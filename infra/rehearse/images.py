"""The app's images, built from the working tree on the host's private dockerd and pushed to
the rehearsal's registry with a tag, as CI's build job pushes them to GitLab's registry.

The data-root is a cache of its own (not the container tests': their session holds that one's
lock), so layers and the debootstrap base image are reused between rehearsals.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from infra.bundle import REPO_ROOT
from infra.rehearse.base_image import ensure_base_image
from infra.rehearse.docker_daemon import PrivateDockerDaemon

BUILD_TIMEOUT_S = 900
PUSH_TIMEOUT_S = 300
# This machine's extra CA certificates: its network inspects TLS, so pip in the backend's
# build needs them, as a build behind a company proxy does (app/backend/Dockerfile).
HOST_EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
SERVICES = ("backend", "gateway")
CACHE = Path("/var/cache/canny-platform/rehearsal-docker")


def host_daemon(insecure_registry: str) -> PrivateDockerDaemon:
    """The build machine's dockerd; it pushes over plain HTTP to the stand-in registry."""
    dockerd, docker = shutil.which("dockerd"), "/usr/bin/docker"
    if dockerd is None:
        raise RuntimeError("dockerd is not installed (apt docker.io)")
    daemon = PrivateDockerDaemon(
        dockerd, docker, CACHE, options=(f"--insecure-registry={insecure_registry}",)
    )
    daemon.start()
    return daemon


def extra_ca_certificates() -> str:
    return "".join(
        cert.read_text() for cert in sorted(HOST_EXTRA_CA_DIR.glob("**/*.crt")) if cert.is_file()
    )


def build(
    daemon: PrivateDockerDaemon, registry_image: str, tag: str, spaces_ca: Path | None = None
) -> list[str]:
    """Both images, `<registry_image>/<service>:<tag>`, as app/compose.yaml names them.

    With `spaces_ca` the backend image also trusts the Spaces stand-in's certificate (real
    Spaces has a public one): one layer on top with Debian's bundle plus it, named by
    AWS_CA_BUNDLE, which boto3 reads (https://docs.aws.amazon.com/sdkref/latest/guide/
    feature-gen-config.html, ca_bundle); nothing else of the image changes.
    """
    debootstrap = shutil.which("debootstrap", path="/usr/sbin:/usr/bin")
    if debootstrap is None:
        raise RuntimeError("debootstrap is not installed (apt debootstrap)")
    ensure_base_image(daemon, debootstrap, daemon.run_dir)
    backend, gateway = (f"{registry_image}/{service}:{tag}" for service in SERVICES)
    daemon.docker(
        "build",
        "--tag",
        backend,
        "--build-arg",
        f"EXTRA_CA_CERTS={extra_ca_certificates()}",
        str(REPO_ROOT / "app" / "backend"),
        timeout=BUILD_TIMEOUT_S,
    )
    if spaces_ca is not None:
        _trust(daemon, backend, spaces_ca)
    daemon.docker(
        "build",
        "--tag",
        gateway,
        "--file",
        str(REPO_ROOT / "app" / "gateway" / "Dockerfile"),
        str(REPO_ROOT / "app"),
        timeout=BUILD_TIMEOUT_S,
    )
    return [backend, gateway]


def push(daemon: PrivateDockerDaemon, images: list[str], user: str, password: str) -> None:
    registry = images[0].split("/", 1)[0]
    daemon.docker(
        "login", "--username", user, "--password-stdin", registry, stdin=password.encode()
    )
    for image in images:
        daemon.docker("push", image, timeout=PUSH_TIMEOUT_S)


def _trust(daemon: PrivateDockerDaemon, image: str, certificate: Path) -> None:
    context = daemon.run_dir / "trust"
    context.mkdir(exist_ok=True)
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    (context / "ca-bundle.pem").write_text(system.read_text() + certificate.read_text())
    (context / "Dockerfile").write_text(
        f"FROM {image}\n"
        "COPY ca-bundle.pem /etc/canny-rehearsal/ca-bundle.pem\n"
        "ENV AWS_CA_BUNDLE=/etc/canny-rehearsal/ca-bundle.pem\n"
    )
    daemon.docker("build", "--tag", image, str(context), timeout=BUILD_TIMEOUT_S)
