"""The `debian:bookworm-slim` base image, made with debootstrap because Docker Hub is out
of reach: Debian's own packages, tagged with the name the Dockerfiles pin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.rehearse.docker_daemon import PrivateDockerDaemon

BASE_IMAGE = "debian:bookworm-slim"
SUITE = "bookworm"
# debootstrap's own default, for a machine whose apt sources name no Debian mirror.
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_TIMEOUT_S = 600
HOST_APT = Path("/etc/apt")

# What makes Debian's docker images "slim" and build-friendly: no docs or man pages,
# no services started by package scripts, no package cache left in layers.
_SLIM_FILES = {
    "etc/dpkg/dpkg.cfg.d/docker-slim": (
        "path-exclude /usr/share/doc/*\n"
        "path-include /usr/share/doc/*/copyright\n"
        "path-exclude /usr/share/man/*\n"
        "path-exclude /usr/share/info/*\n"
        "path-exclude /usr/share/locale/*\n"
        "path-exclude /usr/share/lintian/*\n"
    ),
    "usr/sbin/policy-rc.d": "#!/bin/sh\nexit 101\n",
    "etc/apt/apt.conf.d/docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };\n'
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'
    ),
}


def debian_mirror(sources_dir: Path = HOST_APT / "sources.list.d") -> str:
    """The mirror this machine's apt fetches bookworm from: a machine behind another mirror
    (or a proxy) cannot reach deb.debian.org. Reads deb822 `.sources` files (Types, URIs,
    Suites; sources.list(5), "DEB822-STYLE FORMAT") and one-line `.list` files."""
    for path in sorted(sources_dir.glob("*.sources")):
        for stanza in path.read_text(encoding="utf-8").split("\n\n"):
            fields = dict(
                line.split(":", 1)
                for line in stanza.splitlines()
                if ":" in line and not line.startswith(("#", " "))
            )
            types = fields.get("Types", "").split()
            if "deb" in types and SUITE in fields.get("Suites", "").split():
                return fields.get("URIs", DEFAULT_MIRROR).split()[0]
    for path in sorted(sources_dir.glob("*.list")):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = [word for word in line.split("#", 1)[0].split() if not word.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1]
    return DEFAULT_MIRROR


class BaseImageError(RuntimeError):
    """The base image could not be made; the message says why."""


def has_image(daemon: PrivateDockerDaemon, name: str) -> bool:
    return daemon.docker("image", "inspect", name, check=False).strip() not in ("", "[]")


def ensure_base_image(daemon: PrivateDockerDaemon, debootstrap: str, work_dir: Path) -> bool:
    """Import the base image unless the daemon has it; True when it had to be made."""
    if has_image(daemon, BASE_IMAGE):
        return False
    rootfs = work_dir / "rootfs"
    try:
        subprocess.run(
            [debootstrap, "--variant=minbase", SUITE, str(rootfs), debian_mirror()],
            capture_output=True,
            timeout=DEBOOTSTRAP_TIMEOUT_S,
            check=True,
        )
        configure_rootfs(rootfs)
        _import(daemon, rootfs)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return True


def configure_rootfs(rootfs: Path) -> None:
    """Apt sources and settings as on this host (they are what works on its network),
    plus the slim image's conventions. debootstrap already wrote a sources.list naming the
    mirror it used (debian_mirror; /usr/sbin/debootstrap, "create sources.list", calls
    setup_apt_sources), which stays when the host keeps no debian.sources."""
    host_sources = HOST_APT / "sources.list.d" / "debian.sources"
    if host_sources.exists():
        (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(host_sources.read_text())
    for setting in sorted((HOST_APT / "apt.conf.d").glob("*")):
        if setting.is_file():
            shutil.copy(setting, rootfs / "etc/apt/apt.conf.d" / setting.name)
    for relative, text in _SLIM_FILES.items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (rootfs / "usr/sbin/policy-rc.d").chmod(0o755)
    _remove_excluded_files(rootfs)


def _remove_excluded_files(rootfs: Path) -> None:
    """What debootstrap installed before the dpkg excludes existed: docs (but their
    copyright files), man pages, translations, and the package download cache."""
    for folder in ("usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian"):
        shutil.rmtree(rootfs / folder, ignore_errors=True)
        (rootfs / folder).mkdir()
    for doc in (rootfs / "usr/share/doc").rglob("*"):
        if (doc.is_file() or doc.is_symlink()) and doc.name != "copyright":
            doc.unlink()
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / cache).glob("*"):
            if entry.is_file():
                entry.unlink()


def _import(daemon: PrivateDockerDaemon, rootfs: Path) -> None:
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        imported = subprocess.run(
            [daemon.docker_cli, "import", "-c", 'CMD ["bash"]', "-", BASE_IMAGE],
            stdin=tar.stdout,
            env=daemon.env,
            capture_output=True,
            timeout=DEBOOTSTRAP_TIMEOUT_S,
            check=False,
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait(timeout=60)
    if imported.returncode != 0 or tar.returncode != 0:
        raise BaseImageError(
            f"importing {BASE_IMAGE} failed: {imported.stderr.decode(errors='replace')}"
        )
