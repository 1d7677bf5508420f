"""The remote steps' deletes (infra/deploy.py) over real SSH: after a step's create and its
delete, nothing the step wrote is left on the droplet, and what other steps wrote stays.

pulumi-command runs a delete with the create's stored stdin (provider/pkg/provider/remote/
commandOutputs.go, run), so each delete here gets that stdin again and must not need it.
"""

import json
import shlex

from infra.cloud_init import REGISTER_RUNNER_SCRIPT
from infra.deploy import unregister_runner_command
from tests.integration.remote.deploy_script import deploy, env_file
from tests.integration.remote.runner_registration import TOKEN, register

SLACK = "https://hooks.example/Delete-Sentinel\n"
TARGETS = json.dumps([{"targets": ["10.110.0.11:9090"], "labels": {"droplet": "canny-prod"}}])
CREDENTIALS = "DO00DELETESENTINEL\nDelete-Secret-Sentinel\n"
OWNER_KEY_SECRETS = "new-owner-key-secret-sentinel-0123456,old-owner-key-secret-sentinel-0123456\n"


def step(host, script: str, stdin: str, *args: str):
    path = shlex.quote(str(host.app_dir / "bin" / script))
    return host.run(" ".join(["bash", path, *args]), stdin=stdin)


def test_forgetting_the_storage_key_leaves_the_deploys_settings(remote_host):
    assert step(remote_host, "storage_credentials.sh", CREDENTIALS).ok
    assert deploy(remote_host, "tag-1", env="CANNY_STORAGE=s3").ok
    result = step(remote_host, "storage_credentials.sh", CREDENTIALS, "--forget")
    assert result.ok, result.stderr
    env = env_file(remote_host)
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env), env
    assert env["IMAGE_TAG"] == "tag-1" and env["CANNY_STORAGE"] == "s3", env
    assert "Delete-Secret-Sentinel" not in (remote_host.app_dir / ".env").read_text()


def test_forgetting_the_alertmanager_secret_removes_file_folder_and_key(remote_host):
    assert step(remote_host, "write_alertmanager_secret.sh", SLACK).ok
    assert step(remote_host, "storage_credentials.sh", CREDENTIALS).ok
    result = step(remote_host, "write_alertmanager_secret.sh", SLACK, "--forget")
    assert result.ok, result.stderr
    assert not (remote_host.app_dir / "alertmanager-secrets").exists()
    assert set(env_file(remote_host)) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_forgetting_the_fleet_targets_removes_file_folder_and_key(remote_host):
    assert step(remote_host, "write_fleet_targets.sh", TARGETS).ok
    result = step(remote_host, "write_fleet_targets.sh", TARGETS, "--forget")
    assert result.ok, result.stderr
    assert not (remote_host.app_dir / "fleet-targets").exists()
    assert "FLEET_TARGETS_DIR" not in env_file(remote_host)


def test_the_owner_key_secrets_land_in_env_and_leave_with_the_delete(remote_host):
    assert not step(remote_host, "owner_key_secrets.sh", "").ok, "empty stdin must fail"
    result = step(remote_host, "owner_key_secrets.sh", OWNER_KEY_SECRETS)
    assert result.ok, result.stderr
    assert OWNER_KEY_SECRETS.strip() not in result.stdout + result.stderr, "the secret leaked"
    assert env_file(remote_host)["CANNY_OWNER_KEY_SECRETS"] == OWNER_KEY_SECRETS.strip()
    assert step(remote_host, "owner_key_secrets.sh", OWNER_KEY_SECRETS, "--forget").ok
    assert "CANNY_OWNER_KEY_SECRETS" not in env_file(remote_host)


def test_a_delete_of_a_step_that_never_ran_succeeds(remote_host):
    """A destroy after a failed first up must not stop at a step that wrote nothing."""
    for script in (
        "storage_credentials.sh",
        "write_alertmanager_secret.sh",
        "owner_key_secrets.sh",
    ):
        result = step(remote_host, script, "", "--forget")
        assert result.ok, f"{script}: {result.stderr}"


# No sudo on the test machine: a stand-in that runs its command as the (root) test user.
SUDO = '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n'


def unregister(host, name: str, script=REGISTER_RUNNER_SCRIPT):
    """The step's delete as the program builds it, with the script at `script`."""
    bin_dir = host.app_dir / "sudo-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sudo").write_text(SUDO, encoding="utf-8")
    (bin_dir / "sudo").chmod(0o755)
    config = host.app_dir / "config.toml"
    command = unregister_runner_command(name, str(script))
    return host.run(
        f"export CANNY_RUNNER_CONFIG={config} PATH={bin_dir}:$PATH; {command}",
        stdin=f"{TOKEN}\n",
    )


def test_the_runner_is_unregistered_by_name_once(remote_host):
    assert register(remote_host, f"{TOKEN}\n").ok
    other = "https://gitlab.example.com canny-prod-2 docker debian:bookworm-slim"
    assert register(remote_host, f"{TOKEN}\n", other).ok
    result = unregister(remote_host, "canny-prod")
    assert result.ok, result.stderr
    config = remote_host.app_dir / "config.toml"
    (call,) = [c for c in remote_host.calls("gitlab-runner") if c["argv"][0] == "unregister"]
    assert call["argv"] == ["unregister", "--config", str(config), "--name", "canny-prod"]
    assert '"canny-prod"' not in config.read_text() and '"canny-prod-2"' in config.read_text()
    again = unregister(remote_host, "canny-prod")
    assert again.ok and "nothing to unregister" in again.stdout, again
    assert call["token_env"] is None, "unregistering needs no token"
    assert TOKEN not in json.dumps(call["argv"]) + result.stdout + result.stderr


def test_a_droplet_with_the_older_script_is_told_to_unregister_by_hand(remote_host, tmp_path):
    """Its canny-register-runner refuses --unregister (usage, exit 64): the delete must not
    fail the destroy on that, and says what to do."""
    older = tmp_path / "canny-register-runner"
    older.write_text('#!/bin/sh\n[ "$#" -eq 4 ] || exit 64\n', encoding="utf-8")
    result = unregister(remote_host, "canny-prod", older)
    assert result.ok, result.stderr
    assert "unregister runner canny-prod by hand" in result.stderr
    assert not remote_host.calls("gitlab-runner")


def test_unregister_needs_a_name(remote_host):
    result = remote_host.run(f"bash {shlex.quote(str(REGISTER_RUNNER_SCRIPT))} --unregister")
    assert result.exit_status == 64 and "--unregister NAME" in result.stderr
