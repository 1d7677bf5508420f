"""infra/bundle.py: the files the droplet receives, and the hash that triggers a deploy."""

import re
import shutil

import pytest
import yaml

from infra.bundle import APP_FILES, BundleError, bundle_files, bundle_hash
from infra.offline import REPO_ROOT


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
