"""DNS component: A (and, given an IPv6 address, AAAA) records for the stack's hostname."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean


@dataclass(frozen=True)
class DnsArgs:
    domain: str
    record_name: str
    ipv4: pulumi.Input[str]
    # None: no AAAA record (prod: no address that changes with the droplet is published).
    ipv6: pulumi.Input[str] | None
    ttl: int
    protect: bool


class Dns(pulumi.ComponentResource):
    """The domain itself is not managed here: it outlives every stack and is shared by them."""

    a_record: digitalocean.DnsRecord
    aaaa_record: digitalocean.DnsRecord | None

    def __init__(
        self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("canny:infra:Dns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=args.protect)
        self.a_record = digitalocean.DnsRecord(
            f"{name}-a",
            domain=args.domain,
            name=args.record_name,
            type="A",
            value=args.ipv4,
            ttl=args.ttl,
            opts=child,
        )
        self.aaaa_record = None
        if args.ipv6 is not None:
            self.aaaa_record = digitalocean.DnsRecord(
                f"{name}-aaaa",
                domain=args.domain,
                name=args.record_name,
                type="AAAA",
                value=args.ipv6,
                ttl=args.ttl,
                opts=child,
            )
        self.register_outputs({"fqdn": self.a_record.fqdn})
