"""The droplet's cloud-init as the program renders it for each stack, checked by cloud-init."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.bundle import REMOTE_APP_DIR
from infra.cloud_init import (
    BOOT_PATH,
    METADATA_BLOCK_PATH,
    METADATA_BLOCK_UNIT_PATH,
    REGISTER_RUNNER_PATH,
    RESULTS_MOUNT,
    HostKey,
    UserDataInputs,
    render_user_data,
    volume_device,
)
from infra.offline import MOCK_HOST_PRIVATE_KEY, MOCK_HOST_PUBLIC_KEY, MOCK_PUBLIC_KEY

RUNNER_TOKEN = "glrt-Runner-Token-Sentinel"
REGISTRY_USER = "registry-User-Sentinel"
REGISTRY_PASSWORD = "registry-Password-Sentinel"
SSH_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ndeploy-Key-Sentinel\n"
HOST_KEY = HostKey(MOCK_HOST_PRIVATE_KEY, MOCK_HOST_PUBLIC_KEY)
# Prod with results on a Volume instead of its default Spaces bucket.
ON_A_VOLUME = {"dropletCount": "1", "resultsStore": "volume"}


def user_data(run) -> str:
    droplet = next(name for name in run.provider_inputs if name.endswith("-droplet"))
    return run.provider_inputs[droplet]["userData"]


def cloud_config(text: str) -> dict:
    assert text.startswith("#cloud-config\n"), "cloud-init needs the #cloud-config header"
    return yaml.safe_load(text)


def written_files(config: dict) -> dict[str, dict]:
    return {item["path"]: item for item in config["write_files"]}


@pytest.fixture(scope="module")
def cloud_init_top_level_keys(require_tool) -> frozenset[str]:
    """Every top-level key some module of the installed cloud-init reads, from its own schema.

    `cloud-init schema` 22.4 accepts unknown top-level keys, so a typo (`runcmds:`) would
    pass it and be silently ignored on the droplet; this list catches that.
    """
    cloud_init = Path(require_tool("cloud-init"))
    interpreter = cloud_init.read_text(encoding="utf-8").splitlines()[0].removeprefix("#!")
    program = (
        "import json; from cloudinit.config.schema import get_schema; "
        "schema = get_schema(); "
        "keys = {key for part in schema['allOf'] "
        "for key in schema['$defs'][part['$ref'].rsplit('/', 1)[-1]].get('properties', {})}; "
        "print(json.dumps(sorted(keys)))"
    )
    result = subprocess.run(
        [interpreter.strip(), "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    keys = frozenset(json.loads(result.stdout))
    assert {"runcmd", "write_files", "users", "ssh_keys"} <= keys, f"schema read wrongly: {keys}"
    return keys


@pytest.mark.parametrize(
    ("stack", "overrides"),
    [("prod", {"runnerToken": RUNNER_TOKEN}), ("test", {}), ("test-feature-x", {})],
)
def test_rendered_user_data_passes_cloud_init_schema(
    run_stack, require_tool, cloud_init_top_level_keys, tmp_path, stack, overrides
):
    text = user_data(run_stack(stack, **overrides))
    path = tmp_path / "user-data.yaml"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [require_tool("cloud-init"), "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"cloud-init schema rejected {stack}:\n{result.stdout}{result.stderr}"
    )
    unknown = set(cloud_config(text)) - cloud_init_top_level_keys
    assert not unknown, f"{stack}: top-level keys no cloud-init module reads: {sorted(unknown)}"


@pytest.mark.parametrize("stack", ["prod", "test"])
def test_deploy_user_sshd_and_upgrades(run_stack, stack):
    config = cloud_config(user_data(run_stack(stack)))
    (user,) = config["users"]
    assert user["name"] == "deploy" and user["groups"] == ["docker"] and user["lock_passwd"]
    assert user["ssh_authorized_keys"] == [MOCK_PUBLIC_KEY], "the account key, looked up"
    assert user["sudo"] == f"ALL=(root) NOPASSWD: {REGISTER_RUNNER_PATH}", (
        "the deploy user may run the runner registration as root, and nothing else"
    )
    assert config["ssh_pwauth"] is False and config["disable_root"] is True
    files = written_files(config)
    sshd = files["/etc/ssh/sshd_config.d/10-canny.conf"]["content"]
    assert "PasswordAuthentication no" in sshd and "PermitRootLogin no" in sshd
    assert 'Unattended-Upgrade "1"' in files["/etc/apt/apt.conf.d/20auto-upgrades"]["content"]


@pytest.mark.parametrize("stack", ["prod", "test"])
def test_the_host_key_the_program_generated_is_installed(run_stack, stack):
    """cloud-init's ssh module installs `ssh_keys` as sshd's host key: the key pinned."""
    config = cloud_config(user_data(run_stack(stack)))
    assert config["ssh_keys"] == {
        "ed25519_private": MOCK_HOST_PRIVATE_KEY,
        "ed25519_public": MOCK_HOST_PUBLIC_KEY.strip(),
    }


@pytest.mark.parametrize(
    ("stack", "overrides", "results"),
    [("prod", ON_A_VOLUME, True), ("prod", {}, False), ("test", {}, False)],
    ids=["prod-on-a-volume", "prod", "test"],
)
def test_runcmd_is_only_the_boot_script_run_with_the_stack_settings(
    run_stack, stack, overrides, results
):
    """cloud-init runs runcmd without `set -e`: the steps live in one script that has it."""
    config = cloud_config(user_data(run_stack(stack, **overrides)))
    expected = ["env", "CANNY_DEPLOY_USER=deploy", f"CANNY_APP_DIR={REMOTE_APP_DIR}"]
    expected += [f"CANNY_RESULTS_MOUNT={RESULTS_MOUNT}"] if results else []
    assert config["runcmd"] == [[*expected, "bash", BOOT_PATH]]
    boot = written_files(config)[BOOT_PATH]
    assert boot["owner"] == "root:root" and boot["permissions"] == "0755"
    assert boot["content"].startswith("#!/usr/bin/env bash\n")
    assert "set -Eeuo pipefail" in boot["content"]


@pytest.mark.parametrize("stack", ["prod", "test"])
def test_apt_trusts_only_pinned_keyring_files_and_calls_no_gpg(run_stack, stack):
    config = cloud_config(user_data(run_stack(stack)))
    assert "apt" not in config, "cloud-init's apt sources with keyid/keyserver call gpg"
    assert set(config["packages"]) == {"ca-certificates", "curl", "python3", "unattended-upgrades"}
    boot = written_files(config)[BOOT_PATH]["content"]
    assert "signed-by=/etc/apt/keyrings/docker.asc" in boot
    assert "signed-by=/etc/apt/keyrings/gitlab-runner.asc" in boot
    # The documented fingerprints (sources cited in the script) are what it pins.
    assert "9DC858229FC7DD38854AE2D88D81803C0EBFCD88" in boot
    assert "F6403F6544A38863DAA0B6E03F01618A51312F3F" in boot


@pytest.mark.parametrize("stack", ["prod", "test-feature-x"])
def test_no_secret_in_user_data(run_stack, stack):
    """User data is readable by every process on the droplet at 169.254.169.254."""
    run = run_stack(
        stack,
        runnerToken=RUNNER_TOKEN,
        registryUser=REGISTRY_USER,
        registryPassword=REGISTRY_PASSWORD,
        sshPrivateKey=SSH_PRIVATE_KEY,
    )
    text = user_data(run)
    for sentinel in (RUNNER_TOKEN, REGISTRY_USER, REGISTRY_PASSWORD, "deploy-Key-Sentinel"):
        assert sentinel not in text, f"{stack}: {sentinel!r} is in the user data"


@pytest.mark.parametrize("stack", ["prod", "test"])
def test_containers_are_kept_from_the_metadata_service_after_every_docker_start(run_stack, stack):
    config = cloud_config(user_data(run_stack(stack)))
    files = written_files(config)
    script = files[METADATA_BLOCK_PATH]["content"]
    for rule in (
        "DOCKER-USER -d 169.254.169.254/32 -j REJECT",
        # the runner's own user on the droplet (tests/infra/test_infra_metadata_block.py)
        "OUTPUT -d 169.254.169.254/32 -m owner --uid-owner gitlab-runner -j REJECT",
    ):
        assert f"iptables -C {rule}" in script and f"iptables -I {rule}" in script
    unit = files[METADATA_BLOCK_UNIT_PATH]["content"]
    assert f"ExecStart={METADATA_BLOCK_PATH}" in unit
    assert "WantedBy=docker.service" in unit and "After=docker.service" in unit
    boot = files[BOOT_PATH]["content"]
    assert "systemctl enable --now canny-metadata-block.service" in boot


@pytest.mark.parametrize(
    ("stack", "overrides", "mounted"),
    [("prod", ON_A_VOLUME, True), ("prod", {}, False), ("test", {}, False)],
    ids=["prod-on-a-volume", "prod-on-spaces", "test"],
)
def test_results_volume_is_mounted_on_prod_with_a_volume_only(run_stack, stack, overrides, mounted):
    config = cloud_config(user_data(run_stack(stack, **overrides)))
    expected = [
        [
            volume_device("canny-prod-results"),
            RESULTS_MOUNT,
            "ext4",
            "defaults,nofail,noatime",
            "0",
            "2",
        ]
    ]
    assert config.get("mounts") == (expected if mounted else None), f"{stack} mounts"


def test_values_cannot_change_the_yaml_structure():
    hostile_key = 'ssh-ed25519 AAAA x"\nruncmd: [[rm, -rf, /]]\n#'
    text = render_user_data(UserDataInputs("deploy", hostile_key, HOST_KEY, None))
    config = cloud_config(text)
    assert config["users"][0]["ssh_authorized_keys"] == [hostile_key.strip()]
    assert "rm" not in json.dumps(config["runcmd"]), "a value injected a runcmd step"
