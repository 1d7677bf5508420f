"""Host component: the droplet with its SSH key, cloud-init, firewall and, on prod, storage.

Production adds what must survive a droplet replacement or a mistaken `pulumi destroy`:
protection, a Reserved IP (DNS never moves), a results Volume retained on delete, and
backups; `user_data` drift is ignored there so editing cloud-init never replaces the droplet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean

from infra.cloud_init import RunnerRegistration, UserDataInputs, render_user_data
from infra.config import RunnerSettings

ANYWHERE = ["0.0.0.0/0", "::/0"]
PUBLIC_TCP_PORTS = ("80", "443")


@dataclass(frozen=True)
class HostArgs:
    region: str
    size: str
    image: str
    vpc_uuid: pulumi.Input[str]
    project_id: pulumi.Input[str]
    tags: Sequence[str]
    admin_cidrs: Sequence[str]
    deploy_user: str
    ssh_public_key: str | None
    ssh_key_name: str | None
    runner: RunnerSettings
    production: bool
    volume_size_gb: int


class Host(pulumi.ComponentResource):
    droplet: digitalocean.Droplet
    volume: digitalocean.Volume | None
    reserved_ip: digitalocean.ReservedIp | None
    public_ipv4: pulumi.Output[str]

    def __init__(self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("canny:infra:Host", name, None, opts)
        self._name = name
        key_id, public_key = self._ssh_key(args)
        self.volume = self._volume(args) if args.production else None
        self.droplet = self._droplet(args, key_id, public_key)
        self.firewall = self._firewall(args)
        self.reserved_ip = self._reserved_ip(args) if args.production else None
        self.public_ipv4 = (
            self.reserved_ip.ip_address if self.reserved_ip else self.droplet.ipv4_address
        )
        self.project_resources = digitalocean.ProjectResources(
            f"{name}-project-resources",
            project=args.project_id,
            resources=self._project_urns(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "droplet_id": self.droplet.id,
                "public_ipv4": self.public_ipv4,
                "ipv6": self.droplet.ipv6_address,
            }
        )

    def _ssh_key(self, args: HostArgs) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """Upload the configured public key, or look up one already in the account."""
        if args.ssh_public_key:
            key = digitalocean.SshKey(
                f"{self._name}-ssh-key",
                name=f"{self._name}-deploy",
                public_key=args.ssh_public_key,
                opts=pulumi.ResourceOptions(parent=self),
            )
            return key.id, key.public_key
        found = digitalocean.get_ssh_key_output(
            name=args.ssh_key_name, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return found.id.apply(str), found.public_key

    def _volume(self, args: HostArgs) -> digitalocean.Volume:
        """DigitalOcean formats it once on creation; nothing here ever formats it again."""
        return digitalocean.Volume(
            f"{self._name}-results",
            name=f"{self._name}-results",
            region=args.region,
            size=args.volume_size_gb,
            initial_filesystem_type="ext4",
            initial_filesystem_label="canny-results",
            description="canny results: outlives the droplet",
            tags=list(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )

    def _droplet(
        self, args: HostArgs, key_id: pulumi.Output[str], public_key: pulumi.Output[str]
    ) -> digitalocean.Droplet:
        volume_name = f"{self._name}-results" if self.volume else None
        runner = _registration(args.runner, self._name)
        user_data = public_key.apply(
            lambda key: render_user_data(
                UserDataInputs(
                    deploy_user=args.deploy_user,
                    ssh_public_key=key,
                    runner=runner,
                    results_volume_name=volume_name,
                )
            )
        )
        return digitalocean.Droplet(
            f"{self._name}-droplet",
            name=self._name,
            region=args.region,
            size=args.size,
            image=args.image,
            vpc_uuid=args.vpc_uuid,
            ssh_keys=[key_id],
            user_data=pulumi.Output.secret(user_data),
            ipv6=True,
            monitoring=True,
            backups=args.production,
            # Attached at creation, so the volume is there when cloud-init mounts it.
            volume_ids=[self.volume.id] if self.volume else None,
            tags=list(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.production,
                ignore_changes=["user_data"] if args.production else None,
            ),
        )

    def _firewall(self, args: HostArgs) -> digitalocean.Firewall:
        """Web ports from anywhere, SSH from admin networks, nothing else inbound."""
        web = [
            digitalocean.FirewallInboundRuleArgs(
                protocol="tcp", port_range=port, source_addresses=ANYWHERE
            )
            for port in PUBLIC_TCP_PORTS
        ]
        ssh = digitalocean.FirewallInboundRuleArgs(
            protocol="tcp", port_range="22", source_addresses=list(args.admin_cidrs)
        )
        outbound = [
            digitalocean.FirewallOutboundRuleArgs(
                protocol=protocol, port_range="1-65535", destination_addresses=ANYWHERE
            )
            for protocol in ("tcp", "udp")
        ]
        outbound.append(
            digitalocean.FirewallOutboundRuleArgs(protocol="icmp", destination_addresses=ANYWHERE)
        )
        return digitalocean.Firewall(
            f"{self._name}-firewall",
            name=f"{self._name}-firewall",
            droplet_ids=[self.droplet.id.apply(int)],
            inbound_rules=[*web, ssh],
            outbound_rules=outbound,
            tags=list(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _reserved_ip(self, args: HostArgs) -> digitalocean.ReservedIp:
        reserved_ip = digitalocean.ReservedIp(
            f"{self._name}-reserved-ip",
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        digitalocean.ReservedIpAssignment(
            f"{self._name}-reserved-ip-assignment",
            ip_address=reserved_ip.ip_address,
            droplet_id=self.droplet.id.apply(int),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return reserved_ip

    def _project_urns(self) -> list[pulumi.Output[str]]:
        urns = [self.droplet.droplet_urn]
        if self.volume:
            urns.append(self.volume.volume_urn)
        if self.reserved_ip:
            urns.append(self.reserved_ip.reserved_ip_urn)
        return urns


def _registration(runner: RunnerSettings, name: str) -> RunnerRegistration | None:
    """Without a token the runner is installed but left unregistered."""
    if runner.token is None:
        return None
    return RunnerRegistration(
        url=runner.url,
        token=runner.token.value,
        name=name,
        executor=runner.executor,
        docker_image=runner.docker_image,
    )
