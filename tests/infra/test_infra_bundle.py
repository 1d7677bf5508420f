"""infra/bundle.py: the files the droplet receives, and the hash that triggers a deploy."""

import re
import shutil
import subprocess

import pytest
import yaml

from infra.bundle import APP_FILES, BundleError, bundle_files, bundle_hash
from infra.offline import REPO_ROOT
from tests.owner_keys_for_tests import TEST_OWNER_KEY_SECRET


def test_every_bundled_file_exists():
    files = bundle_files()
    assert {item.remote for item in files} >= {"compose.yaml", "bin/deploy.sh", "bin/rollback.sh"}


def test_every_host_file_compose_mounts_is_in_the_bundle():
    compose = yaml.safe_load((REPO_ROOT / "app" / "compose.yaml").read_text(encoding="utf-8"))
    mounted = {
        re.sub(r"^\./", "", volume.split(":", 1)[0])
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if isinstance(volume, str) and volume.startswith("./")
    }
    assert mounted, "compose.yaml should bind-mount its monitoring config"
    assert mounted <= set(APP_FILES), (
        f"compose mounts files the deploy never copies: {mounted - set(APP_FILES)}"
    )


@pytest.fixture
def repo_copy(tmp_path):
    for item in bundle_files():
        target = tmp_path / item.local.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(item.local, target)
    return tmp_path


def test_hash_changes_with_any_file_content(repo_copy):
    before = bundle_hash(bundle_files(repo_copy))
    with (repo_copy / "app" / "monitoring" / "prometheus.yml").open("a") as handle:
        handle.write("\n# edited\n")
    assert bundle_hash(bundle_files(repo_copy)) != before


def test_hash_ignores_where_the_repository_lives(repo_copy):
    assert bundle_hash(bundle_files(repo_copy)) == bundle_hash(bundle_files())


def test_a_missing_file_is_named(repo_copy):
    (repo_copy / "app" / "compose.yaml").unlink()
    with pytest.raises(BundleError, match=r"app/compose\.yaml"):
        bundle_files(repo_copy)


def test_prod_results_override_binds_the_volume_into_compose(require_tool, tmp_path):
    """deploy.sh adds compose.results-volume.yaml on prod; compose must merge it as a bind."""
    env = {
        "PATH": "/usr/bin:/bin",
        "REGISTRY_IMAGE": "registry.example.com/group/canny",
        "IMAGE_TAG": "0123abcd",
        "CANNY_OWNER_KEY_SECRETS": TEST_OWNER_KEY_SECRET,
        "CANNY_RESULTS_MOUNT": "/mnt/canny-results",
    }
    result = subprocess.run(
        [
            require_tool("docker-compose"),
            "--project-directory", str(tmp_path),
            "-f", str(REPO_ROOT / "app" / "compose.yaml"),
            "-f", str(REPO_ROOT / "infra" / "remote" / "compose.results-volume.yaml"),
            "config",
        ],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    volume = yaml.safe_load(result.stdout)["volumes"]["results"]
    assert volume["driver_opts"] == {"type": "none", "o": "bind", "device": "/mnt/canny-results"}
