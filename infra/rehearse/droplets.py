"""Local droplets: a network namespace each, with its own address, dockerd and sshd.

Each droplet is a network namespace the rehearsal makes, joined to the host by a veth pair
on a /30 of its own (the host side is the droplet's gateway, its "internet"). Its dockerd and
sshd are entered with `nsenter --net`, not `ip netns exec`, which remounts /sys and breaks
dockerd ("Devices cgroup isn't mounted"). sshd runs in a mount namespace of its own
(`unshare --mount`) where the droplet's files are bind-mounted over the paths the deploy
uses: the app folder, the boot markers, the users (passwd, group, shadow) and the tools cloud-init
would have left (a `cloud-init` that reports the finished boot). So two droplets on one
machine never share a file, and every remote step sees what it would see on a droplet.

`boot` does what cloud-init does on a real droplet where it can run here (infra/cloud_init.py
renders it): the deploy user with the authorized key from the user data, the SSH host key
from the user data (the program's `tls.PrivateKey`, so pinning is real), the app folder, the
ready marker and the metadata block rule (iptables in the droplet's namespace).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.bundle import REMOTE_APP_DIR
from infra.cloud_init import METADATA_BLOCK_SCRIPT
from infra.config import DEPLOY_USER
from infra.rehearse.docker_daemon import PrivateDockerDaemon, run_checked
from localrun.readiness import wait_until

# 10.213.0.0/16, one /30 per droplet: far from DigitalOcean's VPC defaults (10.10.0.0/16 and
# up), Docker's 172.17+/192.168 pools and this machine's own networks (checked before use).
RANGE = ipaddress.ip_network("10.213.0.0/16")
NAME_PREFIX = "canny-rh"
READY_MARKER = "/var/lib/canny/cloud-init.done"
STATE_DIR = "/var/lib/canny"
# The deploy user's ids on a droplet (own passwd): far from any user of this machine.
DEPLOY_UID = 2999
DOCKER_GID = 2998
RUNNER_UID = 2997
SSH_START_TIMEOUT_S = 20
_CLOUD_INIT_STAND_IN = """#!/bin/sh
# Stand-in for cloud-init on a rehearsal droplet: the rehearsal's boot already did what
# cloud-init does here (users, host key, folders, markers), so its status is "done".
case "$1" in
  status) echo "status: done"; exit 0 ;;
esac
echo "cloud-init (rehearsal stand-in): only 'status' is available" >&2
exit 2
"""


class DropletError(RuntimeError):
    """A droplet could not be made or booted; the message says why."""


def _ip(*args: str, check: bool = True) -> str:
    return run_checked(["ip", *args], env=dict(os.environ), timeout=30, check=check)


def used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network this machine has an address or a route in."""
    found = []
    for line in _ip("-o", "-4", "addr", "show").splitlines():
        words = line.split()
        found.append(ipaddress.ip_interface(words[words.index("inet") + 1]).network)
    for line in _ip("-4", "route", "show").splitlines():
        target = line.split()[0]
        if target != "default":
            found.append(ipaddress.ip_network(target, strict=False))
    return found


def free_slots(count: int) -> list[int]:
    """`count` /30s of RANGE that overlap nothing on this machine (another rehearsal's
    droplets included), by slot number."""
    used = used_networks()
    netns = set(_ip("netns", "list").split())
    slots = []
    for slot, subnet in enumerate(RANGE.subnets(new_prefix=30)):
        if len(slots) == count:
            break
        if f"{NAME_PREFIX}-{slot}" not in netns and not any(subnet.overlaps(n) for n in used):
            slots.append(slot)
    if len(slots) < count:
        raise DropletError(f"no {count} free /30 networks left in {RANGE}")
    return slots


class ServiceAddress:
    """The host's address for the rehearsal's services (registry, Spaces, its DNS): the first
    address of a /30 of RANGE, on `lo`, so every droplet reaches it through its gateway."""

    def __init__(self, slot: int) -> None:
        self.address = str(list(RANGE.subnets(new_prefix=30))[slot].network_address + 1)

    def add(self) -> None:
        _ip("addr", "add", f"{self.address}/32", "dev", "lo")

    def remove(self) -> None:
        _ip("addr", "del", f"{self.address}/32", "dev", "lo", check=False)


@dataclass(frozen=True)
class Boot:
    """What the droplet takes from its cloud-init user data."""

    host_private_key: str
    authorized_keys: tuple[str, ...]
    deploy_user: str

    @classmethod
    def from_user_data(cls, user_data: str) -> Boot:
        document: dict[str, Any] = yaml.safe_load(user_data)
        users = [user for user in document.get("users", []) if isinstance(user, dict)]
        if not users or "ssh_keys" not in document:
            raise DropletError("the user data has no users or no ssh_keys: nothing to boot")
        return cls(
            host_private_key=document["ssh_keys"]["ed25519_private"],
            authorized_keys=tuple(users[0].get("ssh_authorized_keys", [])),
            deploy_user=users[0]["name"],
        )


class Droplet:
    """One droplet: `create()` makes the namespace and starts dockerd, `boot()` starts sshd
    with the user data's keys, `destroy()` stops everything by pid and removes it all."""

    def __init__(self, slot: int, registry: str | None = None, dns: str | None = None) -> None:
        self.slot = slot
        subnet = list(RANGE.subnets(new_prefix=30))[slot]
        self.gateway = str(subnet.network_address + 1)
        self.address = str(subnet.network_address + 2)
        self.netns = f"{NAME_PREFIX}-{slot}"
        self.host_veth = f"crh{slot}h"
        self.inner_veth = f"crh{slot}d"
        self.registry = registry
        self.dns = dns
        # Short: the docker socket's path must stay under ~100 bytes.
        self.root = Path(tempfile.mkdtemp(prefix=f"crh{slot}-", dir="/tmp"))
        self.root.chmod(0o755)
        self.app_dir = self.root / "app"
        self.state_dir = self.root / "state"
        self.home = self.root / "home"
        self.docker: PrivateDockerDaemon | None = None
        self._sshd: subprocess.Popen | None = None

    @property
    def nsenter(self) -> tuple[str, ...]:
        return ("nsenter", f"--net=/var/run/netns/{self.netns}")

    def create(self) -> None:
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.host_veth, "type", "veth", "peer", "name", self.inner_veth)
        _ip("link", "set", self.inner_veth, "netns", self.netns)
        _ip("addr", "add", f"{self.gateway}/30", "dev", self.host_veth)
        _ip("link", "set", self.host_veth, "up")
        inside = ("ip", "netns", "exec", self.netns, "ip")
        for args in (
            ("addr", "add", f"{self.address}/30", "dev", self.inner_veth),
            ("link", "set", self.inner_veth, "up"),
            ("link", "set", "lo", "up"),
            # The host side is the droplet's way out: its containers' egress goes there.
            ("route", "add", "default", "via", self.gateway),
        ):
            run_checked([*inside, *args], env=dict(os.environ), timeout=30)
        self._start_docker()

    def _start_docker(self) -> None:
        options = [f"--group={DOCKER_GID}"]
        if self.registry:
            # The stand-in registry speaks plain HTTP on the host side of the veth.
            options.append(f"--insecure-registry={self.registry}")
        if self.dns:
            # Containers resolve outside names (the Spaces endpoint) with the rehearsal's DNS.
            options.append(f"--dns={self.dns}")
        dockerd, docker = shutil.which("dockerd"), "/usr/bin/docker"
        if dockerd is None:
            raise DropletError("dockerd is not installed (apt docker.io)")
        self.docker = PrivateDockerDaemon(
            dockerd,
            docker,
            self.root / "docker",
            launcher=self.nsenter,
            options=tuple(options),
        )
        self.docker.start()

    @property
    def docker_socket(self) -> Path:
        if self.docker is None:
            raise DropletError(f"droplet {self.slot} has no dockerd")
        return self.docker.socket

    def boot(self, user_data: str) -> None:
        """cloud-init's part, then sshd (restarted when the droplet boots again)."""
        boot = Boot.from_user_data(user_data)
        if boot.deploy_user != DEPLOY_USER:
            raise DropletError(f"user data names {boot.deploy_user}, the deploy {DEPLOY_USER}")
        self._stop_sshd()
        for folder in (self.app_dir, self.state_dir, self.home, self.root / "bin"):
            folder.mkdir(exist_ok=True)
        for folder in (self.app_dir, self.home):
            os.chown(folder, DEPLOY_UID, DEPLOY_UID)
        self.app_dir.chmod(0o750)
        self._write_users(boot)
        cloud_init = self.root / "bin" / "cloud-init"
        cloud_init.write_text(_CLOUD_INIT_STAND_IN)
        cloud_init.chmod(0o755)
        # The rule the droplet's canny-metadata-block unit adds once dockerd runs.
        run_checked(
            self.inside('exec sh -c "$0"', METADATA_BLOCK_SCRIPT),
            env=self._docker_env(),
            timeout=30,
        )
        (self.state_dir / Path(READY_MARKER).name).write_text("")
        self._start_sshd()

    def _write_users(self, boot: Boot) -> None:
        """The machine's users plus the deploy user (and its docker group), in files only
        this droplet's mount namespace sees."""
        users = {
            "passwd": f"{DEPLOY_USER}:x:{DEPLOY_UID}:{DEPLOY_UID}::{self.home}:/bin/bash\n"
            # The GitLab Runner package's user (the metadata block names it); no runner here.
            f"gitlab-runner:x:{RUNNER_UID}:{RUNNER_UID}::/nonexistent:/usr/sbin/nologin",
            "group": f"{DEPLOY_USER}:x:{DEPLOY_UID}:\ndocker:x:{DOCKER_GID}:{DEPLOY_USER}\n"
            f"gitlab-runner:x:{RUNNER_UID}:",
            # `*`: no password, yet not locked for key logins (sshd without PAM).
            "shadow": f"{DEPLOY_USER}:*:20000:0:99999:7:::\ngitlab-runner:!:20000::::::",
        }
        for name, added in users.items():
            names = {line.split(":")[0] for line in added.splitlines()}
            kept = [
                line
                for line in Path(f"/etc/{name}").read_text().splitlines()
                if line.split(":")[0] not in names
            ]
            target = self.root / name
            target.write_text("\n".join([*kept, added]) + "\n")
            target.chmod(0o640 if name == "shadow" else 0o644)
        keys = self.root / "authorized_keys"
        keys.write_text("".join(f"{key.strip()}\n" for key in boot.authorized_keys))
        keys.chmod(0o644)
        host_key = self.root / "ssh_host_ed25519_key"
        host_key.write_text(boot.host_private_key)
        host_key.chmod(0o600)

    def _docker_env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.docker_socket}"}

    def _sshd_config(self) -> Path:
        config = self.root / "sshd_config"
        config.write_text(
            f"""ListenAddress {self.address}
Port 22
HostKey {self.root / "ssh_host_ed25519_key"}
AuthorizedKeysFile {self.root / "authorized_keys"}
PidFile {self.root / "sshd.pid"}
# As the droplet's sshd_config.d/10-canny.conf (infra/cloud-init.template.yaml) has it.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
# The droplet's Docker: its own daemon (a real droplet has one at the default socket).
SetEnv DOCKER_HOST=unix://{self.docker_socket}
"""
        )
        return config

    def inside(self, command: str, *args: str) -> list[str]:
        """`sh -c command args...` as the droplet runs it: its network namespace, and a mount
        namespace where its own files lie over the paths the deploy uses."""
        binds = {
            self.root / "passwd": "/etc/passwd",
            self.root / "group": "/etc/group",
            self.root / "shadow": "/etc/shadow",
            self.app_dir: REMOTE_APP_DIR,
            self.state_dir: STATE_DIR,
            self.root / "bin": "/usr/local/bin",
        }
        for target in binds.values():
            if not Path(target).exists():
                Path(target).mkdir(parents=True)
        mounts = " && ".join(f"mount --bind {source} {target}" for source, target in binds.items())
        return [
            *self.nsenter,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"{mounts} && {command}",
            *args,
        ]

    def _start_sshd(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        command = self.inside('exec /usr/sbin/sshd -D -e -f "$0"', str(self._sshd_config()))
        log = (self.root / "sshd.log").open("ab")
        self._sshd = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        self._wait_for_sshd()

    def _wait_for_sshd(self) -> None:
        wait_until(
            "sshd",
            self._sshd_listens,
            self._sshd,
            self.root / "sshd.log",
            SSH_START_TIMEOUT_S,
            error=DropletError,
            pause=0.2,
        )

    def _sshd_listens(self) -> bool:
        probe = subprocess.run(
            [*self.nsenter, "bash", "-c", f"exec 3<>/dev/tcp/{self.address}/22"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return probe.returncode == 0

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.root / name
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def _stop_sshd(self) -> None:
        if self._sshd is not None:
            self._sshd.terminate()
            try:
                self._sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._sshd.kill()
                self._sshd.wait(timeout=10)
            self._sshd = None

    def destroy(self) -> None:
        """Everything, by pid and by name, whatever state the droplet is in."""
        self._stop_sshd()
        if self.docker is not None:
            self.docker.stop()
            self.docker = None
        _ip("netns", "del", self.netns, check=False)
        _ip("link", "del", self.host_veth, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
