"""Render the droplet's cloud-init user data from infra/cloud-init.template.yaml.

The template is parsed first and placeholders are filled into the parsed strings, so a value
(an SSH key comment, a token) can never add or change YAML keys. Parts a stack may not have
(the GitLab Runner registration, the results volume) are added here rather than templated
as conditionals, which keeps the template itself valid cloud-config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).with_name("cloud-init.template.yaml")
APP_DIR = "/opt/canny"
READY_MARKER = "/var/lib/canny/cloud-init.done"
RESULTS_MOUNT = "/mnt/canny-results"
# The backend image runs as this uid (app/backend/Dockerfile) and must own the results.
BACKEND_UID = 10001
RUNNER_ENV_FILE = "/etc/gitlab-runner/canny-register.env"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class RunnerRegistration:
    """What `gitlab-runner register` needs; the token is a glrt- runner authentication token.

    Tags are not here on purpose: with an authentication token GitLab keeps the tags on the
    runner it created, and `register` rejects --tag-list.
    """

    url: str
    token: str
    name: str
    executor: str
    docker_image: str


@dataclass(frozen=True)
class UserDataInputs:
    deploy_user: str
    ssh_public_key: str
    runner: RunnerRegistration | None
    results_volume_name: str | None


def volume_device(volume_name: str) -> str:
    """DigitalOcean exposes an attached volume under this stable by-id path."""
    return f"/dev/disk/by-id/scsi-0DO_Volume_{volume_name}"


def _fill(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], node)
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    return node


def _runner_steps(runner: RunnerRegistration) -> tuple[list[dict[str, str]], list[list[str]]]:
    """The registration reads its token from a root-only file, never from a command line."""
    env = (
        "REGISTER_NON_INTERACTIVE=true\n"
        f"CI_SERVER_URL={runner.url}\n"
        f"CI_SERVER_TOKEN={runner.token}\n"
        f"RUNNER_NAME={runner.name}\n"
        f"RUNNER_EXECUTOR={runner.executor}\n"
        f"DOCKER_IMAGE={runner.docker_image}\n"
    )
    files = [{"path": RUNNER_ENV_FILE, "permissions": "0600", "owner": "root:root", "content": env}]
    register = (
        f"set -a && . {RUNNER_ENV_FILE} && set +a && gitlab-runner register"
        f" && rm -f {RUNNER_ENV_FILE}"
    )
    return files, [["bash", "-c", register]]


def _volume_steps(volume_name: str) -> tuple[list[list[str]], list[list[str]]]:
    """Mount the pre-formatted volume (formatted by DigitalOcean, never here: no data loss)."""
    mounts = [
        [volume_device(volume_name), RESULTS_MOUNT, "ext4", "defaults,nofail,noatime", "0", "2"]
    ]
    # cloud-init's mounts module creates the folder and mounts it; deploy.sh refuses to run
    # when it is not a mount point, so results never land on the droplet's own disk.
    commands = [["chown", f"{BACKEND_UID}:{BACKEND_UID}", RESULTS_MOUNT]]
    return mounts, commands


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (file contents) as `|` blocks, so the user data stays readable."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _represent_text)


def render_user_data(inputs: UserDataInputs, template: Path = TEMPLATE) -> str:
    """Return the #cloud-config document for one droplet."""
    document = yaml.safe_load(template.read_text(encoding="utf-8"))
    document = _fill(
        document,
        {
            "deploy_user": inputs.deploy_user,
            "ssh_public_key": inputs.ssh_public_key.strip(),
            "app_dir": APP_DIR,
        },
    )
    runcmd: list[list[str]] = document["runcmd"]
    if inputs.results_volume_name:
        mounts, commands = _volume_steps(inputs.results_volume_name)
        document["mounts"] = mounts
        runcmd.extend(commands)
    if inputs.runner:
        files, commands = _runner_steps(inputs.runner)
        document["write_files"].extend(files)
        runcmd.extend(commands)
    runcmd.append(["install", "-D", "-m", "0644", "/dev/null", READY_MARKER])
    body = yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, width=1000)
    return "#cloud-config\n" + body
