"""Firewall component: the cloud firewall every droplet of the stack has from its first second.

It is created from the droplets' ids alone (and the VPC's range), so it waits for nothing but
the droplets: SSH comes only from the admin networks, the droplet Prometheus' port
(infra/fleet_targets.py) admits the stack's VPC range only, and without a load balancer 80
and 443 are open to everyone. Behind a load balancer the droplets' port 80 is opened by a
second firewall that the balancer's component creates (infra/load_balancer.py), because the
balancer waits for its Let's Encrypt certificate, which the provider waits for until it is
`verified` (terraform-provider-digitalocean digitalocean/certificate/resource_certificate.go):
a firewall waiting for the balancer's uid would leave the droplets open for minutes, or for
good when the certificate fails. A droplet may be in several firewalls, and DigitalOcean
applies the union of their rules ("When you've applied more than one Firewall to the Droplet
... the union of all of the Firewalls' rules is displayed":
https://docs.digitalocean.com/products/networking/firewalls/how-to/manage-droplets/).
Every remote step of the deploy waits for this firewall (infra/deploy.py, `firewall`).

Applied by droplet id only, never by tag: a firewall's `tags` select every droplet
carrying one of them, and the rules of all firewalls selecting a droplet add up
(terraform-provider-digitalocean docs/resources/firewall.md, `droplet_ids` / `tags` /
`source_load_balancer_uids`; https://docs.digitalocean.com/products/networking/firewalls/).
A test stack's firewall tagged `canny` would open SSH to the world on prod.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean

from infra.fleet_targets import FEDERATION_PORT

ANYWHERE = ["0.0.0.0/0", "::/0"]
PUBLIC_TCP_PORTS = ("80", "443")
BALANCED_TCP_PORT = "80"


@dataclass(frozen=True)
class FirewallArgs:
    droplet_ids: Sequence[pulumi.Input[int]]
    admin_cidrs: Sequence[str]
    # No load balancer: the droplets serve the web themselves, 80 and 443 from anywhere.
    # Behind one, the balancer's own firewall admits it (balancer_web_rule).
    public_web: bool
    # The firewall used to be a child of the first droplet's Host component: the alias keeps
    # existing stacks' firewall (same resource, new parent) instead of replacing it
    # (https://www.pulumi.com/docs/iac/concepts/options/aliases/).
    previous_parent: pulumi.Resource | None = None
    # The VPC's ip_range when the fleet Prometheus federates the droplets; None: no metrics
    # port is open at all.
    metrics_source: pulumi.Input[str] | None = None


def public_web_rules() -> list[digitalocean.FirewallInboundRuleArgs]:
    return [
        digitalocean.FirewallInboundRuleArgs(
            protocol="tcp", port_range=port, source_addresses=ANYWHERE
        )
        for port in PUBLIC_TCP_PORTS
    ]


def balancer_web_rule(load_balancer_uid: pulumi.Input[str]) -> digitalocean.FirewallInboundRuleArgs:
    """Port 80 from the load balancer alone (`source_load_balancer_uids`)."""
    return digitalocean.FirewallInboundRuleArgs(
        protocol="tcp",
        port_range=BALANCED_TCP_PORT,
        source_load_balancer_uids=[load_balancer_uid],
    )


def metrics_rules(vpc_range: pulumi.Input[str] | None) -> list:
    """The fleet Prometheus reaches each droplet's Prometheus over the VPC. A cloud firewall
    drops all inbound traffic no rule permits, the VPC's included, so the port needs a rule,
    and its only source is the VPC's range
    (https://docs.digitalocean.com/products/networking/firewalls/how-to/configure-rules/;
    `source_addresses`: terraform-provider-digitalocean docs/resources/firewall.md). The
    cloud firewall filters outside the droplet, so Docker's own iptables rules for the
    published port cannot bypass it."""
    if vpc_range is None:
        return []
    return [
        digitalocean.FirewallInboundRuleArgs(
            protocol="tcp",
            port_range=str(FEDERATION_PORT),
            source_addresses=[vpc_range],
        )
    ]


def _aliases(previous_parent: pulumi.Resource | None) -> list[pulumi.Alias] | None:
    return [pulumi.Alias(parent=previous_parent)] if previous_parent else None


class Firewall(pulumi.ComponentResource):
    firewall: digitalocean.Firewall

    def __init__(
        self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("canny:infra:Firewall", name, None, opts)
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
        self.firewall = digitalocean.Firewall(
            f"{name}-firewall",
            name=f"{name}-firewall",
            droplet_ids=list(args.droplet_ids),
            inbound_rules=[
                *(public_web_rules() if args.public_web else []),
                ssh,
                *metrics_rules(args.metrics_source),
            ],
            outbound_rules=outbound,
            opts=pulumi.ResourceOptions(parent=self, aliases=_aliases(args.previous_parent)),
        )
        self.register_outputs({"firewall_id": self.firewall.id})
