"""Host component: one droplet with its SSH keys, cloud-init and, on prod, storage.

Production adds what must survive a droplet replacement or a mistaken `pulumi destroy`:
protection, backups, (for results on a Volume) a results Volume retained on delete and,
without a load balancer, a Reserved IP (DNS never moves); `user_data` drift is ignored
there so editing cloud-init never replaces the droplet by accident
(canny:prodFollowsUserData lifts that for a deliberate replacement). A replacement works:
the droplet is deleted before its replacement is created, so the volume (detached when a
droplet is deleted) attaches to the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean
import pulumi_tls as tls

from infra.cloud_init import HostKey, UserDataInputs, render_user_data


@dataclass(frozen=True)
class HostArgs:
    region: str
    size: str
    image: str
    vpc_uuid: pulumi.Input[str]
    project_id: pulumi.Input[str]
    tags: Sequence[str]
    deploy_user: str
    # The deploy key, already in the DigitalOcean account under this name (docs/deploy.md).
    ssh_key_name: str
    # Prod's droplets: protected, backed up, deleted before their replacement is created.
    protect: bool
    backups: bool
    delete_before_replace: bool
    volume_size_gb: int
    # A results Volume attached to this droplet (prod with canny:resultsStore volume).
    results_volume: bool
    # A Reserved IP that DNS points at (prod without a load balancer).
    reserved_ip: bool
    # Prod only: let a (deliberate) replacement boot with the current user data.
    follows_user_data: bool


class Host(pulumi.ComponentResource):
    droplet: digitalocean.Droplet
    host_key: tls.PrivateKey
    volume: digitalocean.Volume | None
    reserved_ip: digitalocean.ReservedIp | None
    public_ipv4: pulumi.Output[str]
    # What connections pin (pulumi-command `host_key`, known_hosts): not secret.
    host_public_key: pulumi.Output[str]

    def __init__(self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("canny:infra:Host", name, None, opts)
        self._name = name
        key_id, public_key = self._ssh_key(args)
        # The droplet's SSH host key, made here so every connection can pin it from the first
        # one on. The private half reaches only the droplet, inside its (secret) user data.
        # Protected on prod: prod's droplets ignore `user_data` changes, so a new key would
        # never reach them and every remote step, pinned to it, would be locked out.
        self.host_key = tls.PrivateKey(
            f"{name}-host-key",
            algorithm="ED25519",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.host_public_key = self.host_key.public_key_openssh.apply(str.strip)
        self.volume = self._volume(args) if args.results_volume else None
        self.droplet = self._droplet(args, key_id, public_key)
        self.reserved_ip = self._reserved_ip(args) if args.reserved_ip else None
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
                "host_public_key": self.host_public_key,
            }
        )

    def _ssh_key(self, args: HostArgs) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """The deploy key, looked up by name: an account-level prerequisite, never uploaded.

        DigitalOcean keeps one key per fingerprint per account and refuses a second upload
        ("422 SSH Key is already in use on your account", e.g.
        digitalocean/ansible-collection#102), so stacks that each uploaded the key when they
        found it missing would race: two review stacks starting together both upload, and
        one fails. A lookup (terraform-provider-digitalocean docs/data-sources/ssh_key.md:
        by `name`, an error when there is none) is safe for any number of stacks at once.
        """
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
        user_data = pulumi.Output.all(
            public_key,
            pulumi.Output.secret(self.host_key.private_key_openssh),
            self.host_key.public_key_openssh,
        ).apply(
            lambda values: render_user_data(
                UserDataInputs(
                    deploy_user=args.deploy_user,
                    ssh_public_key=values[0],
                    host_key=HostKey(private_openssh=values[1], public_openssh=values[2]),
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
            backups=args.backups,
            # Attached at creation, so the volume is there when cloud-init mounts it.
            volume_ids=[self.volume.id] if self.volume else None,
            tags=list(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                # The engine substitutes the stored value of an ignored input, for a replacement
                # too (pulumi/pulumi#2657), hence the switch for a deliberate replacement.
                ignore_changes=["user_data"] if not args.follows_user_data else None,
                # A volume is attached to one droplet at a time, and the provider detaches it
                # only when deleting the old droplet (terraform-provider-digitalocean
                # digitalocean/droplet/resource_droplet.go, delete: detachVolumesFromDroplet).
                # Pulumi's default creates the replacement first, whose volume_ids would then
                # name a volume still attached elsewhere; so delete first on prod.
                delete_before_replace=args.delete_before_replace,
            ),
        )

    def _reserved_ip(self, args: HostArgs) -> digitalocean.ReservedIp:
        """The address DNS points at; its assignment follows the droplet.

        The assignment's `droplet_id` forces a new assignment when the droplet is replaced
        (terraform-provider-digitalocean digitalocean/reservedip/
        resource_reserved_ip_assignment.go: ForceNew), so the address moves to the new one.
        """
        reserved_ip = digitalocean.ReservedIp(
            f"{self._name}-reserved-ip",
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        digitalocean.ReservedIpAssignment(
            f"{self._name}-reserved-ip-assignment",
            ip_address=reserved_ip.ip_address,
            droplet_id=self.droplet.id.apply(int),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        return reserved_ip

    def _project_urns(self) -> list[pulumi.Output[str]]:
        urns = [self.droplet.droplet_urn]
        if self.volume:
            urns.append(self.volume.volume_urn)
        if self.reserved_ip:
            urns.append(self.reserved_ip.reserved_ip_urn)
        return urns
