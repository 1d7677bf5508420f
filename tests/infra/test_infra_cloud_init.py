"""The droplet's cloud-init as the program renders it for each stack, checked by cloud-init."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.cloud_init import (
    READY_MARKER,
    RESULTS_MOUNT,
    RUNNER_ENV_FILE,
    UserDataInputs,
    render_user_data,
    volume_device,
)

RUNNER_TOKEN = "glrt-Runner-Token-Sentinel"


def user_data(run) -> str:
    droplet = next(name for name in run.provider_inputs if name.endswith("-droplet"))
    return run.provider_inputs[droplet]["userData"]


def cloud_config(text: str) -> dict:
    assert text.startswith("#cloud-config\n"), "cloud-init needs the #cloud-config header"
    return yaml.safe_load(text)


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
    assert {"runcmd", "write_files", "users", "apt"} <= keys, f"schema read wrongly: {keys}"
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
    assert user["ssh_authorized_keys"] == [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfflinePlanMockKeyOfflinePlanMockKey0 mock"
    ], "the deploy user must get the key looked up in the account"
    assert config["ssh_pwauth"] is False and config["disable_root"] is True
    files = {item["path"]: item["content"] for item in config["write_files"]}
    sshd = files["/etc/ssh/sshd_config.d/10-canny.conf"]
    assert "PasswordAuthentication no" in sshd and "PermitRootLogin no" in sshd
    assert 'Unattended-Upgrade "1"' in files["/etc/apt/apt.conf.d/20auto-upgrades"]
    assert {"docker-ce", "docker-compose-plugin", "gitlab-runner", "unattended-upgrades"} <= set(
        config["packages"]
    )
    sources = config["apt"]["sources"]
    assert "download.docker.com" in sources["docker.list"]["source"]
    assert "packages.gitlab.com/runner" in sources["gitlab-runner.list"]["source"]


@pytest.mark.parametrize("stack", ["prod", "test"])
def test_the_ready_marker_is_the_last_step(run_stack, stack):
    runcmd = cloud_config(user_data(run_stack(stack)))["runcmd"]
    assert runcmd[-1][-1] == READY_MARKER, f"last runcmd step is {runcmd[-1]}"


def test_runner_registers_with_token_from_a_root_only_file(run_stack):
    config = cloud_config(user_data(run_stack("prod", runnerToken=RUNNER_TOKEN)))
    (env_file,) = [item for item in config["write_files"] if item["path"] == RUNNER_ENV_FILE]
    assert env_file["permissions"] == "0600"
    assert f"CI_SERVER_TOKEN={RUNNER_TOKEN}\n" in env_file["content"]
    assert "RUNNER_EXECUTOR=docker\n" in env_file["content"]
    commands = json.dumps(config["runcmd"])
    assert "gitlab-runner register" in commands
    assert RUNNER_TOKEN not in commands, "the token must never be on a command line"


def test_without_a_token_the_runner_is_installed_but_not_registered(run_stack):
    config = cloud_config(user_data(run_stack("test")))
    assert "gitlab-runner" in config["packages"]
    assert "register" not in json.dumps(config["runcmd"])
    assert RUNNER_ENV_FILE not in json.dumps(config["write_files"])


@pytest.mark.parametrize(("stack", "mounted"), [("prod", True), ("test", False)])
def test_results_volume_is_mounted_on_prod_only(run_stack, stack, mounted):
    config = cloud_config(user_data(run_stack(stack)))
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
    text = render_user_data(
        UserDataInputs("deploy", hostile_key, runner=None, results_volume_name=None)
    )
    config = cloud_config(text)
    assert config["users"][0]["ssh_authorized_keys"] == [hostile_key.strip()]
    assert "rm" not in json.dumps(config["runcmd"]), "a value injected a runcmd step"
