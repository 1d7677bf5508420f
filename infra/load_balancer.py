"""Load balancer component: the stack's HTTPS entry, in front of every droplet.

A DigitalOcean Load Balancer in the stack's VPC terminates TLS with a Let's Encrypt
certificate (the domain must be on DigitalOcean DNS for that), forwards 443 to each
droplet's gateway on port 80 and redirects plain HTTP to HTTPS. Its health check asks the
gateway's `/healthz/upload`, which fails when that droplet's backends cannot take uploads,
so the balancer sends no traffic to a droplet that is restarting or broken.

The droplets' port 80 admits the balancer through a firewall of its own, made here once the
balancer has its uid; the droplets' SSH firewall never waits for the balancer (nor for its
certificate): infra/firewall.py says why.

Argument names and meanings: terraform-provider-digitalocean docs/resources/loadbalancer.md
and docs/resources/certificate.md (the Pulumi provider bridges that provider).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean

from infra.firewall import balancer_web_rule

HEALTH_PATH = "/healthz/upload"
GATEWAY_PORT = 80


@dataclass(frozen=True)
class HealthCheck:
    """The balancer's health check: the one place its numbers live, for the balancer and for
    the rolling deploy that waits on them. Meanings (pulumi_digitalocean's
    LoadBalancerHealthcheckArgs, from terraform-provider-digitalocean
    docs/resources/loadbalancer.md): `check_interval_seconds` between two consecutive
    checks, `response_timeout_seconds` before a check counts as failed, and
    `healthy_threshold` passing checks "for a backend Droplet to be marked 'healthy' and be
    re-added to the pool" (`unhealthy_threshold` failing ones to be removed)."""

    path: str = HEALTH_PATH
    port: int = GATEWAY_PORT
    check_interval_seconds: int = 5
    response_timeout_seconds: int = 3
    unhealthy_threshold: int = 2
    healthy_threshold: int = 2

    @property
    def rejoin_seconds(self) -> int:
        """The longest a droplet that just became healthy waits to be back in rotation: the
        next check comes within one interval, the healthy_threshold-th passing one
        (healthy_threshold - 1) intervals later, and may take a response timeout."""
        return self.healthy_threshold * self.check_interval_seconds + self.response_timeout_seconds

    def args(self) -> digitalocean.LoadBalancerHealthcheckArgs:
        return digitalocean.LoadBalancerHealthcheckArgs(
            protocol="http",
            port=self.port,
            path=self.path,
            check_interval_seconds=self.check_interval_seconds,
            response_timeout_seconds=self.response_timeout_seconds,
            unhealthy_threshold=self.unhealthy_threshold,
            healthy_threshold=self.healthy_threshold,
        )


@dataclass(frozen=True)
class LoadBalancerArgs:
    region: str
    vpc_uuid: pulumi.Input[str]
    project_id: pulumi.Input[str]
    hostname: str
    # Droplets by id, never by tag: a tag would also pick up other stacks' droplets.
    droplet_ids: Sequence[pulumi.Input[int]]
    # Prod: its address is the one DNS points at, which a replacement would change.
    protect: bool


def certificate_name(prefix: str, hostname: str) -> str:
    """Names are unique per account and a certificate's domains cannot change in place, so
    the name follows the hostname: a new hostname creates the new certificate first
    (loadbalancer.md: "you must also change the name of the certificate")."""
    digest = hashlib.sha256(hostname.encode()).hexdigest()[:8]
    return f"{prefix}-cert-{digest}"


class LoadBalancer(pulumi.ComponentResource):
    certificate: digitalocean.Certificate
    balancer: digitalocean.LoadBalancer
    # Admits the balancer to the droplets' port 80; every other rule is the stack's Firewall.
    firewall: digitalocean.Firewall
    ip: pulumi.Output[str]
    health_check: HealthCheck = HealthCheck()

    def __init__(
        self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("canny:infra:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.certificate = digitalocean.Certificate(
            f"{name}-certificate",
            name=certificate_name(name, args.hostname),
            type="lets_encrypt",
            domains=[args.hostname],
            opts=child,
        )
        self.balancer = digitalocean.LoadBalancer(
            f"{name}-lb",
            name=f"{name}-lb",
            region=args.region,
            vpc_uuid=args.vpc_uuid,
            project_id=args.project_id,
            droplet_ids=list(args.droplet_ids),
            forwarding_rules=[
                digitalocean.LoadBalancerForwardingRuleArgs(
                    entry_protocol="https",
                    entry_port=443,
                    target_protocol="http",
                    target_port=GATEWAY_PORT,
                    certificate_name=self.certificate.name,
                ),
                # Answered by the redirect below, never forwarded.
                digitalocean.LoadBalancerForwardingRuleArgs(
                    entry_protocol="http",
                    entry_port=80,
                    target_protocol="http",
                    target_port=GATEWAY_PORT,
                ),
            ],
            redirect_http_to_https=True,
            healthcheck=self.health_check.args(),
            # The stack's own A record points here (infra/dns.py); DigitalOcean would
            # otherwise add one of its own for the certificate's domain
            # (`disable_lets_encrypt_dns_records`, loadbalancer.md).
            disable_lets_encrypt_dns_records=True,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.firewall = digitalocean.Firewall(
            f"{name}-lb-firewall",
            name=f"{name}-lb-firewall",
            droplet_ids=list(args.droplet_ids),
            inbound_rules=[balancer_web_rule(self.balancer.id)],
            opts=child,
        )
        self.ip = self.balancer.ip
        self.register_outputs({"ip": self.ip, "uid": self.balancer.id})
