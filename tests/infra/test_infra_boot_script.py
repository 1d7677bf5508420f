"""The boot script exactly as rendered into user data, run with stand-ins for curl, apt-get,
systemctl, mountpoint and chown, every path under a temp root (CANNY_BOOT_ROOT)."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from infra.cloud_init import (
    BOOT_PATH,
    FINGERPRINT_CHECK_PATH,
    HostKey,
    UserDataInputs,
    boot_command,
    render_user_data,
)
from infra.offline import MOCK_HOST_PRIVATE_KEY, MOCK_HOST_PUBLIC_KEY, MOCK_PUBLIC_KEY
from tests.infra.openpgp_keys import KeyMaker

# apt's timers hold dpkg's lock at first boot: every apt-get waits for it (the script cites apt).
LOCK_WAIT = "-o DPkg::Lock::Timeout=600"
# The fingerprints the script pins (their sources are cited in the script itself).
DOCKER_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
GITLAB_FINGERPRINT = "F6403F6544A38863DAA0B6E03F01618A51312F3F"
# Each stand-in logs "<tool> <args>" and fails when its tool and first argument are listed in
# $STANDIN_FAIL ("<tool> <arg> <n>": only its first n calls fail); curl serves
# $STANDIN_KEYS/<last part of the URL>.
STANDIN = """#!/bin/sh
tool=$(basename "$0")
echo "$tool $*" >> "$STANDIN_CALLS"
if [ -f "$STANDIN_FAIL" ] && grep -qxF "$tool $1" "$STANDIN_FAIL"; then exit 100; fi
times=$(sed -n "s/^$tool $1 \\([0-9]*\\)$/\\1/p" "$STANDIN_FAIL")
if [ -n "$times" ] && [ "$(grep -c "^$tool $1" "$STANDIN_CALLS")" -le "$times" ]; then exit 100; fi
if [ "$tool" = curl ]; then
  for arg; do case "$prev" in --output) out=$arg ;; esac; prev=$arg; url=$arg; done
  cp "$STANDIN_KEYS/${url##*/}" "$out"
fi
exit 0
"""


@dataclass
class BootRun:
    result: subprocess.CompletedProcess
    root: Path
    calls: list[str]

    def exists(self, path: str) -> bool:
        return (self.root / path.lstrip("/")).exists()

    def read(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()


@pytest.fixture(scope="module")
def keys(require_tool, tmp_path_factory):
    maker = KeyMaker(require_tool("gpg"), tmp_path_factory.mktemp("gnupg") / "home")
    return {
        "docker": maker.make("docker@example.invalid"),
        "gitlab": maker.make("gitlab@example.invalid"),
        "attacker": maker.make("attacker@example.invalid"),
        "docker-next": maker.make("docker-next@example.invalid"),
    }


def rendered(results_volume: str | None) -> tuple[dict[str, str], list[str]]:
    inputs = UserDataInputs(
        "deploy",
        MOCK_PUBLIC_KEY,
        HostKey(MOCK_HOST_PRIVATE_KEY, MOCK_HOST_PUBLIC_KEY),
        results_volume,
    )
    config = yaml.safe_load(render_user_data(inputs))
    (command,) = config["runcmd"]
    assert command == boot_command(inputs)
    return {item["path"]: item["content"] for item in config["write_files"]}, command


def boot(
    tmp_path, keys, *, served=None, fail=(), results_volume=None, docker_pins=("docker",)
) -> BootRun:
    files, command = rendered(results_volume)
    root = tmp_path / "root"
    pins = ",".join(keys[name].fingerprint for name in docker_pins)
    script = files[BOOT_PATH].replace(DOCKER_FINGERPRINT, pins)
    script = script.replace(GITLAB_FINGERPRINT, keys["gitlab"].fingerprint)
    for path, content in {
        BOOT_PATH: script,
        FINGERPRINT_CHECK_PATH: files[FINGERPRINT_CHECK_PATH],
    }.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "os-release").write_text('ID=debian\nVERSION_CODENAME="bookworm"\n')
    (root / "opt").mkdir()
    key_dir, bin_dir = tmp_path / "served", tmp_path / "bin"
    key_dir.mkdir()
    bin_dir.mkdir()
    served = served or {"gpg": keys["docker"].armored, "gpg.key": keys["gitlab"].armored}
    for name, text in served.items():
        (key_dir / name).write_text(text)
    for tool in ("curl", "apt-get", "systemctl", "mountpoint", "chown"):
        (bin_dir / tool).write_text(STANDIN)
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "fail").write_text("".join(f"{line}\n" for line in fail))
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CANNY_BOOT_ROOT": str(root),
        "STANDIN_CALLS": str(tmp_path / "calls"),
        "STANDIN_FAIL": str(tmp_path / "fail"),
        "STANDIN_KEYS": str(key_dir),
        "CANNY_APT_UPDATE_PAUSE": "0",
    }
    # The runcmd line itself, with the deploy user swapped for one that exists here.
    argv = [
        word.replace("CANNY_DEPLOY_USER=deploy", f"CANNY_DEPLOY_USER={user}") for word in command
    ]
    argv[-1] = str(root / BOOT_PATH.lstrip("/"))
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env={**os.environ, **env} | env
    )
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return BootRun(result, root, calls)


def test_every_step_runs_and_the_ready_marker_comes_last(tmp_path, keys):
    run = boot(tmp_path, keys)
    assert run.result.returncode == 0, run.result.stderr
    assert run.exists("/var/lib/canny/cloud-init.done")
    assert not run.exists("/var/lib/canny/cloud-init.failed")
    assert run.read("/etc/apt/keyrings/docker.asc") == keys["docker"].armored
    assert run.read("/etc/apt/keyrings/gitlab-runner.asc") == keys["gitlab"].armored
    assert run.read("/etc/apt/sources.list.d/docker.list") == (
        "deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian"
        " bookworm stable\n"
    )
    assert "signed-by=/etc/apt/keyrings/gitlab-runner.asc" in run.read(
        "/etc/apt/sources.list.d/gitlab-runner.list"
    )
    tools = [call.split()[0] for call in run.calls]
    assert tools[:2] == ["curl", "curl"], "keys are pinned before apt reads any repository"
    assert (
        f"apt-get install {LOCK_WAIT} -y --no-install-recommends docker-ce docker-ce-cli "
        "containerd.io docker-compose-plugin gitlab-runner" in run.calls
    )
    assert f"apt-get update {LOCK_WAIT}" in run.calls
    assert "systemctl enable --now canny-metadata-block.service" in run.calls
    assert (run.root / "opt" / "canny").is_dir()


@pytest.mark.parametrize(
    ("failing", "step"),
    [
        ("apt-get update", "packages"),
        ("systemctl reload", "services"),
        ("curl --fail", "repository-keys"),
    ],
)
def test_a_failing_step_stops_the_boot_and_names_itself(tmp_path, keys, failing, step):
    run = boot(tmp_path, keys, fail=[failing])
    assert run.result.returncode == 100
    assert not run.exists("/var/lib/canny/cloud-init.done"), "no ready marker after a failure"
    assert run.read("/var/lib/canny/cloud-init.failed") == (
        f"canny first boot: step {step} failed (exit 100)\n"
    )
    failed_at = max(index for index, call in enumerate(run.calls) if call.startswith(failing))
    assert failed_at == len(run.calls) - 1, f"steps ran after the failure: {run.calls[failed_at:]}"


def test_apt_update_is_tried_again_while_the_lists_are_locked(tmp_path, keys):
    """The lists lock has no timeout option (the script cites apt's source): retry update."""
    run = boot(tmp_path, keys, fail=["apt-get update 3"])
    assert run.result.returncode == 0, run.result.stderr
    updates = [call for call in run.calls if call.startswith("apt-get update")]
    assert len(updates) == 4, updates
    assert run.exists("/var/lib/canny/cloud-init.done")


def test_apt_update_gives_up_after_ten_tries(tmp_path, keys):
    run = boot(tmp_path, keys, fail=["apt-get update"])
    assert len([call for call in run.calls if call.startswith("apt-get update")]) == 10
    assert "step packages failed" in run.read("/var/lib/canny/cloud-init.failed")


def test_a_vendor_key_rotation_does_not_fail_the_boot(tmp_path, keys):
    """The vendor publishes the old and the new key in one file while it rotates: with both
    pinned, the boot goes on and apt trusts exactly those two."""
    both = keys["docker"].armored + keys["docker-next"].armored
    run = boot(
        tmp_path,
        keys,
        served={"gpg": both, "gpg.key": keys["gitlab"].armored},
        docker_pins=("docker", "docker-next"),
    )
    assert run.result.returncode == 0, run.result.stderr
    assert run.read("/etc/apt/keyrings/docker.asc") == both


@pytest.mark.parametrize("tampering", ["another key", "an extra key"])
def test_a_repository_key_that_is_not_the_pinned_one_is_never_trusted(tmp_path, keys, tampering):
    docker = keys["attacker"].armored
    if tampering == "an extra key":
        docker = keys["docker"].armored + keys["attacker"].armored
    run = boot(tmp_path, keys, served={"gpg": docker, "gpg.key": keys["gitlab"].armored})
    assert run.result.returncode != 0
    assert "step repository-keys failed" in run.read("/var/lib/canny/cloud-init.failed")
    assert not run.exists("/etc/apt/keyrings/docker.asc")
    assert not [call for call in run.calls if call.startswith("apt-get")]


def test_prod_without_its_results_volume_fails_the_boot(tmp_path, keys):
    run = boot(tmp_path, keys, results_volume="canny-prod-results", fail=["mountpoint -q"])
    assert "step results-volume failed" in run.read("/var/lib/canny/cloud-init.failed")
    assert not run.exists("/var/lib/canny/cloud-init.done")


def test_prod_results_volume_is_given_to_the_backend_user(tmp_path, keys):
    run = boot(tmp_path, keys, results_volume="canny-prod-results")
    assert run.result.returncode == 0, run.result.stderr
    mount = run.root / "mnt" / "canny-results"
    assert f"chown 10001:10001 {mount}" in run.calls
