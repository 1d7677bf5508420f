"""The invariants every canny stack must keep, as pulumi-policy resource validations.

They restate what infra/config.py and the components already guarantee, so a later edit
of the program (or a manual `pulumi config set`) cannot quietly break them:
- only the web ports are open to the internet (monitoring and backends stay private);
- SSH on prod is reachable only from listed networks;
- prod's droplet, volume, reserved IP and DNS records are protected;
- droplets run a pinned distribution image;
- droplets, volumes and firewalls carry the project and stack tags.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from infra.config import PINNED_IMAGE, PROD_STACK

DROPLET = "digitalocean:index/droplet:Droplet"
FIREWALL = "digitalocean:index/firewall:Firewall"
VOLUME = "digitalocean:index/volume:Volume"
RESERVED_IP = "digitalocean:index/reservedIp:ReservedIp"
DNS_RECORD = "digitalocean:index/dnsRecord:DnsRecord"
PROTECTED_ON_PROD = frozenset({DROPLET, VOLUME, RESERVED_IP, DNS_RECORD})
TAGGED = frozenset({DROPLET, VOLUME, FIREWALL})
ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})
WEB_PORTS = frozenset({80, 443})
SSH_PORT = 22


def stack_of(urn: str) -> str:
    """urn:pulumi:<stack>::<project>::<type>::<name> -> <stack>."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def ports_of(port_range: str | None) -> range:
    """DigitalOcean port ranges: "22", "8000-8100", or empty / "all" for every port."""
    if not port_range or port_range == "all":
        return range(1, 65536)
    low, _, high = port_range.partition("-")
    return range(int(low), int(high or low) + 1)


def _open_rules(args: ResourceValidationArgs) -> list[dict]:
    return [
        rule
        for rule in args.props.get("inboundRules") or []
        if ANYWHERE & set(rule.get("sourceAddresses") or [])
    ]


def only_web_ports_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FIREWALL:
        return
    for rule in _open_rules(args):
        protocol = rule.get("protocol")
        ports = ports_of(rule.get("portRange"))
        extra = sorted(set(ports) - WEB_PORTS - {SSH_PORT}) if protocol == "tcp" else list(ports)
        if extra:
            report(
                f"{args.name}: inbound {protocol} {rule.get('portRange') or 'all'} is open to "
                "the internet; only tcp 80 and 443 may be (monitoring and backends stay private)"
            )


def ssh_restricted_on_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FIREWALL or stack_of(args.urn) != PROD_STACK:
        return
    for rule in _open_rules(args):
        if rule.get("protocol") == "tcp" and SSH_PORT in ports_of(rule.get("portRange")):
            report(f"{args.name}: SSH on prod is open to the internet; list admin CIDRs")


def prod_resources_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    on_prod = args.resource_type in PROTECTED_ON_PROD and stack_of(args.urn) == PROD_STACK
    if on_prod and not args.opts.protect:
        report(f"{args.name}: prod {args.resource_type} must have protect=True")


def droplet_image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == DROPLET and not PINNED_IMAGE.match(str(args.props.get("image"))):
        report(f"{args.name}: image {args.props.get('image')!r} is not a pinned release slug")


def required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TAGGED:
        return
    missing = {"canny", f"canny-{stack_of(args.urn)}"} - set(args.props.get("tags") or [])
    if missing:
        report(f"{args.name}: missing tags {sorted(missing)}")


POLICIES = [
    ResourceValidationPolicy(
        name="only-web-ports-public",
        description="Only tcp 80 and 443 accept traffic from the whole internet.",
        validate=only_web_ports_public,
    ),
    ResourceValidationPolicy(
        name="ssh-restricted-on-prod",
        description="Prod SSH is reachable only from listed admin networks.",
        validate=ssh_restricted_on_prod,
    ),
    ResourceValidationPolicy(
        name="prod-resources-protected",
        description="Prod droplet, volume, reserved IP and DNS records are protected.",
        validate=prod_resources_protected,
    ),
    ResourceValidationPolicy(
        name="droplet-image-pinned",
        description="Droplets run a named distribution release, never a moving alias.",
        validate=droplet_image_pinned,
    ),
    ResourceValidationPolicy(
        name="required-tags",
        description="Droplets, volumes and firewalls carry the canny and stack tags.",
        validate=required_tags,
    ),
]
