"""infra/remote/storage_credentials.sh and deploy.sh's storage settings, over real SSH."""

import shlex
import stat

from tests.integration.remote.deploy_script import IMAGE, deploy, env_file

ACCESS_KEY = "DO00STORAGESENTINEL"
SECRET_KEY = "Storage-Secret-Sentinel-91c2"


def store_credentials(host, stdin: str):
    script = shlex.quote(str(host.app_dir / "bin" / "storage_credentials.sh"))
    return host.run(f"bash {script}", stdin=stdin)


def test_the_key_from_stdin_lands_in_an_env_file_only_its_owner_reads(remote_host):
    result = store_credentials(remote_host, f"{ACCESS_KEY}\n{SECRET_KEY}\n")
    assert result.ok, result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr, "the secret leaked into the log"
    env = remote_host.app_dir / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600, oct(env.stat().st_mode)
    assert env_file(remote_host) == {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }


def test_a_deploy_keeps_the_key_and_adds_the_bucket_settings(remote_host):
    assert store_credentials(remote_host, f"{ACCESS_KEY}\n{SECRET_KEY}\n").ok
    settings = (
        "COMPOSE_PROFILES= CANNY_STORAGE=s3 CANNY_S3_BUCKET=canny-prod-results-example-com "
        "CANNY_S3_ENDPOINT_URL=https://fra1.digitaloceanspaces.com CANNY_S3_REGION=fra1 "
        "CANNY_RETENTION_DAYS=30 "
        "CANNY_RESULTS_BUCKET_URL=https://fra1.digitaloceanspaces.com/canny-prod-results-example-com"
    )
    result = deploy(remote_host, "tag-1", env=settings)
    assert result.ok, result.stderr
    assert env_file(remote_host) == {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "REGISTRY_IMAGE": IMAGE,
        "IMAGE_TAG": "tag-1",
        "COMPOSE_PROFILES": "",
        "CANNY_TRUSTED_PROXIES": "",
        "METRICS_BIND": "",
        "CANNY_STORAGE": "s3",
        "CANNY_S3_BUCKET": "canny-prod-results-example-com",
        "CANNY_S3_ENDPOINT_URL": "https://fra1.digitaloceanspaces.com",
        "CANNY_S3_REGION": "fra1",
        "CANNY_RETENTION_DAYS": "30",
        "CANNY_RESULTS_BUCKET_URL": (
            "https://fra1.digitaloceanspaces.com/canny-prod-results-example-com"
        ),
        # The backends' route out to the bucket (tests/integration/containers/
        # test_bucket_storage.py runs it for real).
        "COMPOSE_FILE": "compose.yaml:compose.bucket-egress.yaml",
    }
    assert stat.S_IMODE((remote_host.app_dir / ".env").stat().st_mode) == 0o600


def test_a_rotated_key_replaces_the_old_one(remote_host):
    assert store_credentials(remote_host, f"{ACCESS_KEY}\n{SECRET_KEY}\n").ok
    assert store_credentials(remote_host, "DO00ROTATED\nRotated-Secret\n").ok
    assert env_file(remote_host) == {
        "AWS_ACCESS_KEY_ID": "DO00ROTATED",
        "AWS_SECRET_ACCESS_KEY": "Rotated-Secret",
    }


def test_stdin_without_both_values_changes_nothing(remote_host):
    result = store_credentials(remote_host, f"{ACCESS_KEY}\n")
    assert result.exit_status == 65, result
    assert "two stdin lines" in result.stderr
    assert not (remote_host.app_dir / ".env").exists()


def test_results_back_on_the_droplet_drop_the_bucket_route(remote_host):
    """Moving results from a bucket to the droplet's disk takes the backends' egress away."""
    assert deploy(remote_host, "tag-1", env="CANNY_STORAGE=s3").ok
    assert env_file(remote_host)["COMPOSE_FILE"] == "compose.yaml:compose.bucket-egress.yaml"
    assert deploy(remote_host, "tag-2", env="CANNY_STORAGE=file").ok
    assert env_file(remote_host)["COMPOSE_FILE"] == "compose.yaml"
