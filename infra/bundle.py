"""The files the droplet needs to run the app: an explicit list, and one hash of them all.

The list is explicit (not a glob of app/) so that a new file reaches the droplet only when
someone adds it here, and tests/infra check that every listed file exists. The hash is the
deploy's trigger: any edit of a bundled file re-runs the deploy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REMOTE_SCRIPTS_DIR = Path(__file__).resolve().parent / "remote"
# Where the bundle lives on the droplet; cloud-init creates it for the deploy user.
REMOTE_APP_DIR = "/opt/canny"

# App files, relative to app/ here and to REMOTE_APP_DIR on the droplet: compose.yaml and
# every host file it bind-mounts (the gateway's nginx config is baked into its image).
APP_FILES = (
    "compose.yaml",
    "monitoring/prometheus.yml",
    "monitoring/fleet-prometheus.yml",
    "monitoring/alert-rules.yml",
    "monitoring/alertmanager.yml",
    "monitoring/mtail/gateway-access.mtail",
)
# Remote scripts and the compose overrides deploy.sh picks (infra/remote/ here), placed on
# the droplet.
REMOTE_FILES = {
    "compose_cli.sh": "bin/compose_cli.sh",
    "deploy.sh": "bin/deploy.sh",
    "gate.sh": "bin/gate.sh",
    "rollback.sh": "bin/rollback.sh",
    "write_alertmanager_secret.sh": "bin/write_alertmanager_secret.sh",
    "write_fleet_targets.sh": "bin/write_fleet_targets.sh",
    "storage_credentials.sh": "bin/storage_credentials.sh",
    "owner_key_secrets.sh": "bin/owner_key_secrets.sh",
    "compose.results-volume.yaml": "compose.results-volume.yaml",
    "compose.bucket-egress.yaml": "compose.bucket-egress.yaml",
}
WAIT_SCRIPT = REMOTE_SCRIPTS_DIR / "wait_cloud_init.sh"


class BundleError(FileNotFoundError):
    """A file the bundle lists is missing from the repository."""


@dataclass(frozen=True)
class BundleFile:
    local: Path
    remote: str

    @property
    def remote_path(self) -> str:
        return f"{REMOTE_APP_DIR}/{self.remote}"

    def sha256(self) -> str:
        return hashlib.sha256(self.local.read_bytes()).hexdigest()


def bundle_files(repo_root: Path = REPO_ROOT) -> list[BundleFile]:
    """Every bundled file; raises BundleError naming each missing one."""
    files = [BundleFile(repo_root / "app" / name, name) for name in APP_FILES]
    files += [
        BundleFile(repo_root / "infra" / "remote" / name, remote)
        for name, remote in REMOTE_FILES.items()
    ]
    missing = [str(item.local.relative_to(repo_root)) for item in files if not item.local.is_file()]
    if missing:
        raise BundleError(f"deploy bundle files missing from the repository: {', '.join(missing)}")
    return files


def bundle_hash(files: list[BundleFile]) -> str:
    """One digest over remote paths and contents: a rename changes it as much as an edit."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda entry: entry.remote):
        digest.update(f"{item.remote}\0{item.sha256()}\n".encode())
    return digest.hexdigest()
