"""The invariants every canny stack must keep, as pulumi-policy resource validations.

They check what the components build, so a later edit of the program cannot quietly break
it: no config value decides these, so the config models (infra/component_config.py) cannot
check them before the program runs:
- only the web ports are open to the internet (monitoring and backends stay private);
- a metrics port admits the stack's VPC range only, never anything beyond the VPC;
- prod's droplet, volume, reserved IP and DNS records are protected;
- droplets and volumes carry the project and stack tags;
- behind prod's load balancer: web traffic only through it, HTTPS with a certificate and
  the HTTP redirect, and every prod droplet in its pool;
and what the platforms do that a schema-valid program can still get wrong:
- a firewall selects droplets by id only (DigitalOcean: a firewall's `tags` select every
  droplet carrying them, across stacks, and all selecting firewalls' rules add up);
- every remote step re-runs on a new droplet (pulumi-command re-runs only on `triggers`);
- the boot calls no gpg or keyserver and trusts only pinned key files under /etc/apt/keyrings
  (Debian 12 cloud images have no gpg: canonical/cloud-init#5535);
- user data holds no secret but the droplet's host key (DigitalOcean serves it at
  169.254.169.254 to every process on the droplet);
- prod's results bucket is protected and versioned (a delete or overwrite can be undone);
- a Spaces key grants `read`/`readwrite` on buckets of its own stack only, never
  `fullaccess` (which DigitalOcean applies to every bucket of the account).

What a config value alone decides has one home, the config models, which refuse it before
any resource exists: prod's SSH open to the internet (canny:adminCidrs, unless
canny:allowSshFromAnywhere says so on purpose, which a rule here used to refuse all the same)
and the droplet image (canny:image, one of SUPPORTED_IMAGES).
"""

from __future__ import annotations

import ipaddress
import re

import yaml
from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.config import PROD_STACK

DROPLET = "digitalocean:index/droplet:Droplet"
FIREWALL = "digitalocean:index/firewall:Firewall"
VOLUME = "digitalocean:index/volume:Volume"
RESERVED_IP = "digitalocean:index/reservedIp:ReservedIp"
DNS_RECORD = "digitalocean:index/dnsRecord:DnsRecord"
LOAD_BALANCER = "digitalocean:index/loadBalancer:LoadBalancer"
SPACES_BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
SPACES_KEY = "digitalocean:index/spacesKey:SpacesKey"
# SpacesKey grant permissions are `read`, `readwrite` or `fullaccess`, the last with bucket ""
# for the whole account (pulumi-digitalocean sdk/python spaces_key.py, SpacesKeyGrantArgs).
SCOPED_KEY_PERMISSIONS = frozenset({"read", "readwrite"})
REMOTE_STEP_PREFIX = "command:remote:"
PROTECTED_ON_PROD = frozenset({DROPLET, VOLUME, RESERVED_IP, DNS_RECORD, LOAD_BALANCER})
TAGGED = frozenset({DROPLET, VOLUME})
# A shell line that runs gpg or apt-key (at its start or after a shell operator).
_GPG_CALL = re.compile(r"(^|[;&|(`]|\$\()\s*(sudo\s+)?(gpg2?|apt-key)(\s|$)")
_APT_LINE = re.compile(r"\bdeb\s+(\[(?P<options>[^\]]*)\]\s+)?(https?|ftp)://")
_KEYRING_OPTION = re.compile(r"(^|\s)signed-by=/etc/apt/keyrings/[\w.-]+\.asc(\s|$)")
_SECRET_PATTERNS = (
    re.compile(r"glrt-[A-Za-z0-9_-]+"),  # a GitLab runner authentication token
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    # a literal value assigned (a shell variable such as "$token" is how a secret arrives)
    re.compile(r"(CI_SERVER_TOKEN|REGISTRATION_TOKEN|PASSWORD)=(?![\"']?\$)\S"),
)
ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})
WEB_PORTS = frozenset({80, 443})
SSH_PORT = 22
VPC = "digitalocean:index/vpc:Vpc"
# Every port app/compose.yaml publishes for monitoring or could publish for the backends:
# droplet Prometheus 9090, fleet Prometheus 9091, Alertmanager 9093, node-exporter 9100,
# nginx-exporter 9113, cAdvisor 8088, gunicorn 8000.
METRICS_PORTS = frozenset({8000, 8088, 9090, 9091, 9093, 9100, 9113})
# A VPC's range is RFC 1918 and no larger than /16 (terraform-provider-digitalocean
# docs/resources/vpc.md, `ip_range`; https://docs.digitalocean.com/reference/terraform/
# reference/resources/vpc/).
_VPC_NETWORKS = tuple(
    ipaddress.ip_network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_VPC_WIDEST_PREFIX = 16
# Inbound sources that are not addresses (firewall.md: `source_tags` select droplets of any
# stack, `source_load_balancer_uids` and `source_kubernetes_ids` sit outside the droplets).
_NON_ADDRESS_SOURCES = ("sourceTags", "sourceLoadBalancerUids", "sourceKubernetesIds")


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
        # Who may reach SSH is canny:adminCidrs' to say, checked by the config (see above).
        extra = sorted(set(ports) - WEB_PORTS - {SSH_PORT}) if protocol == "tcp" else list(ports)
        if extra:
            report(
                f"{args.name}: inbound {protocol} {rule.get('portRange') or 'all'} is open to "
                "the internet; only tcp 80 and 443 may be (monitoring and backends stay private)"
            )


def prod_resources_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    on_prod = args.resource_type in PROTECTED_ON_PROD and stack_of(args.urn) == PROD_STACK
    if on_prod and not args.opts.protect:
        report(f"{args.name}: prod {args.resource_type} must have protect=True")


def required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TAGGED:
        return
    missing = {"canny", f"canny-{stack_of(args.urn)}"} - set(args.props.get("tags") or [])
    if missing:
        report(f"{args.name}: missing tags {sorted(missing)}")


def firewalls_select_by_id(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """DigitalOcean applies a firewall to every droplet carrying one of its `tags`, in any stack
    (terraform-provider-digitalocean docs/resources/firewall.md), and a load balancer's
    `droplet_tag` likewise picks every droplet with that tag."""
    if args.resource_type == FIREWALL and args.props.get("tags"):
        report(f"{args.name}: a firewall must select droplets by id, not tags {args.props['tags']}")
    if args.resource_type == LOAD_BALANCER and args.props.get("dropletTag"):
        report(f"{args.name}: a load balancer must select droplets by id, not a tag")


def remote_steps_follow_the_droplet(args: StackValidationArgs, report: ReportViolation) -> None:
    """pulumi-command re-runs a remote step only when its `triggers` change (provider/pkg/
    provider/remote/copy.go, command.go: `replaceOnChanges`); a new host alone copies nothing."""
    for resource in args.resources:
        if not resource.resource_type.startswith(REMOTE_STEP_PREFIX):
            continue
        sources = resource.property_dependencies.get("triggers") or []
        if not any(source.resource_type == DROPLET for source in sources):
            report(f"{resource.name}: its triggers must include the droplet's id", resource.urn)


def _within_a_vpc(source: str, vpc_ranges: set[str]) -> bool:
    """Inside one of the stack's VPC ranges; while they are unknown (a preview of a new
    VPC), inside RFC 1918 and no wider than the widest range a VPC can have."""
    try:
        network = ipaddress.ip_network(source, strict=False)
    except ValueError:
        return False
    if vpc_ranges:
        return any(
            network.version == 4 and network.subnet_of(ipaddress.ip_network(vpc_range))
            for vpc_range in vpc_ranges
        )
    return network.prefixlen >= _VPC_WIDEST_PREFIX and any(
        network.version == 4 and network.subnet_of(block) for block in _VPC_NETWORKS
    )


def metrics_ports_only_from_the_vpc(args: StackValidationArgs, report: ReportViolation) -> None:
    """The fleet Prometheus federates each droplet over the VPC: a metrics port that admits
    anything else would hand the app's metrics (and Prometheus' API) to whoever reaches it.
    A cloud firewall admits only what its rules permit, VPC traffic included
    (https://docs.digitalocean.com/products/networking/firewalls/how-to/configure-rules/)."""
    vpc_ranges = {
        resource.props.get("ipRange")
        for resource in args.resources
        if resource.resource_type == VPC and isinstance(resource.props.get("ipRange"), str)
    }
    for resource in args.resources:
        if resource.resource_type != FIREWALL:
            continue
        for rule in resource.props.get("inboundRules") or []:
            ports = set(ports_of(rule.get("portRange"))) & METRICS_PORTS
            if rule.get("protocol") != "tcp" or not ports:
                continue
            beyond = [
                source
                for source in rule.get("sourceAddresses") or []
                if isinstance(source, str) and not _within_a_vpc(source, vpc_ranges)
            ]
            beyond += [key for key in _NON_ADDRESS_SOURCES if rule.get(key)]
            if beyond:
                report(
                    f"{resource.name}: metrics port(s) {sorted(ports)} admit {beyond}; only the "
                    "stack's VPC range may reach them",
                    resource.urn,
                )


def _prod_load_balancers(args: StackValidationArgs) -> list:
    return [
        resource
        for resource in args.resources
        if resource.resource_type == LOAD_BALANCER and stack_of(resource.urn) == PROD_STACK
    ]


def prod_web_only_through_load_balancer(args: StackValidationArgs, report: ReportViolation) -> None:
    """With a load balancer in front, a droplet's web port open to addresses would let
    clients around it: no HTTPS, no health-checked pool, a spoofable client address. The
    firewall takes web traffic from the balancer by uid (`source_load_balancer_uids`,
    terraform-provider-digitalocean docs/resources/firewall.md)."""
    if not _prod_load_balancers(args):
        return
    for resource in args.resources:
        if resource.resource_type != FIREWALL or stack_of(resource.urn) != PROD_STACK:
            continue
        for rule in resource.props.get("inboundRules") or []:
            ports = set(ports_of(rule.get("portRange")))
            if rule.get("protocol") == "tcp" and ports & WEB_PORTS and rule.get("sourceAddresses"):
                report(
                    f"{resource.name}: tcp {rule.get('portRange')} admits "
                    f"{rule['sourceAddresses']}; behind the load balancer only its uid may reach "
                    "the web ports",
                    resource.urn,
                )


def https_on_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Prod's balancer terminates TLS on 443 with a certificate and redirects port 80 to it
    (`forwarding_rule.certificate_name`, `redirect_http_to_https`: terraform-provider-
    digitalocean docs/resources/loadbalancer.md)."""
    if args.resource_type != LOAD_BALANCER or stack_of(args.urn) != PROD_STACK:
        return
    https = [
        rule
        for rule in args.props.get("forwardingRules") or []
        if rule.get("entryProtocol") == "https"
        and rule.get("entryPort") == 443
        and (rule.get("certificateName") or rule.get("certificateId"))
    ]
    if not https:
        report(f"{args.name}: prod needs a 443 https forwarding rule with a certificate")
    if args.props.get("redirectHttpToHttps") is not True:
        report(f"{args.name}: prod must redirect HTTP to HTTPS (redirect_http_to_https)")


def prod_droplets_behind_load_balancer(args: StackValidationArgs, report: ReportViolation) -> None:
    """A prod droplet outside the pool takes no traffic and is not health-checked. Ids are
    unknown in a preview of new droplets, so membership is read from the balancer's
    `dropletIds` dependencies (the droplets its value came from)."""
    balancers = _prod_load_balancers(args)
    if not balancers:
        return
    pooled = {
        source.urn
        for balancer in balancers
        for source in balancer.property_dependencies.get("dropletIds") or []
    }
    for resource in args.resources:
        on_prod = resource.resource_type == DROPLET and stack_of(resource.urn) == PROD_STACK
        if on_prod and resource.urn not in pooled:
            report(f"{resource.name}: prod droplet is not behind the load balancer", resource.urn)


def _user_data(args: ResourceValidationArgs) -> dict | None:
    text = args.props.get("userData")
    if args.resource_type != DROPLET or not isinstance(text, str):
        return None
    document = yaml.safe_load(text)
    return document if isinstance(document, dict) else {}


def _shell_lines(document: dict) -> list[str]:
    """Every non-comment line of written files and commands, where a boot step could hide."""
    texts = [item.get("content", "") for item in document.get("write_files") or []]
    for key in ("runcmd", "bootcmd"):
        for command in document.get(key) or []:
            texts.append(" ".join(command) if isinstance(command, list) else str(command))
    lines = [line.strip() for text in texts for line in str(text).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def boot_needs_no_gpg(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """cloud-init calls gpg for apt `keyid`/`keyserver`/`key`; Debian 12 cloud images have none
    (canonical/cloud-init#5535). Keys must be armored files apt reads via `signed-by`."""
    document = _user_data(args)
    if document is None:
        return
    for name, source in ((document.get("apt") or {}).get("sources") or {}).items():
        used = sorted({"keyid", "keyserver", "key"} & set(source or {}))
        if used:
            report(f"{args.name}: apt source {name} uses {used}, which makes cloud-init call gpg")
    for line in _shell_lines(document):
        if _GPG_CALL.search(line) or "keyserver" in line:
            report(f"{args.name}: the boot runs gpg or a keyserver: {line[:80]}")
        for match in _APT_LINE.finditer(line):
            if not _KEYRING_OPTION.search(match.group("options") or ""):
                report(
                    f"{args.name}: apt source without signed-by=/etc/apt/keyrings/<key>.asc: "
                    f"{line[:80]}"
                )


def user_data_holds_no_secret(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """DigitalOcean serves user data unauthenticated at 169.254.169.254 to every process on the
    droplet (https://docs.digitalocean.com/products/droplets/how-to/access-metadata/); only
    the droplet's own host key (`ssh_keys`) may be in it."""
    document = _user_data(args)
    if document is None:
        return
    texts = list(_strings({key: value for key, value in document.items() if key != "ssh_keys"}))
    for pattern in _SECRET_PATTERNS:
        if any(pattern.search(text) for text in texts):
            report(f"{args.name}: user data holds a secret (matches {pattern.pattern!r})")


def prod_bucket_protected_and_versioned(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    """Prod's bucket holds the users' results: no accidental delete, and versions to restore."""
    if args.resource_type != SPACES_BUCKET or stack_of(args.urn) != PROD_STACK:
        return
    if not args.opts.protect:
        report(f"{args.name}: prod's Spaces bucket must have protect=True")
    if not (args.props.get("versioning") or {}).get("enabled"):
        report(f"{args.name}: prod's Spaces bucket must have versioning enabled")


def spaces_keys_grant_own_buckets(args: StackValidationArgs, report: ReportViolation) -> None:
    """A key may reach only buckets this stack manages, and only read or read-write."""
    buckets = {
        resource.props.get("name")
        for resource in args.resources
        if resource.resource_type == SPACES_BUCKET
    }
    for resource in args.resources:
        if resource.resource_type != SPACES_KEY:
            continue
        grants = resource.props.get("grants") or []
        if not grants:
            report(f"{resource.name}: a Spaces key must name the bucket it may use", resource.urn)
        for grant in grants:
            bucket, permission = grant.get("bucket"), grant.get("permission")
            if permission not in SCOPED_KEY_PERMISSIONS or bucket not in buckets:
                report(
                    f"{resource.name}: grant {permission!r} on {bucket!r} reaches beyond this "
                    f"stack's buckets {sorted(buckets)}",
                    resource.urn,
                )


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return [str(node)]


POLICIES = [
    ResourceValidationPolicy(
        name="only-web-ports-public",
        description="Only tcp 80 and 443 accept traffic from the whole internet.",
        validate=only_web_ports_public,
    ),
    ResourceValidationPolicy(
        name="prod-resources-protected",
        description="Prod droplet, volume, reserved IP, load balancer, DNS are protected.",
        validate=prod_resources_protected,
    ),
    ResourceValidationPolicy(
        name="required-tags",
        description="Droplets and volumes carry the canny and stack tags.",
        validate=required_tags,
    ),
    ResourceValidationPolicy(
        name="firewalls-select-by-id",
        description="Firewalls and load balancers select droplets by id, never by a shared tag.",
        validate=firewalls_select_by_id,
    ),
    StackValidationPolicy(
        name="remote-steps-follow-the-droplet",
        description="Every command:remote step has the droplet's id among its triggers.",
        validate=remote_steps_follow_the_droplet,
    ),
    StackValidationPolicy(
        name="metrics-ports-only-from-the-vpc",
        description="Metrics ports (Prometheus, exporters, backends) admit the VPC's range only.",
        validate=metrics_ports_only_from_the_vpc,
    ),
    StackValidationPolicy(
        name="prod-web-only-through-load-balancer",
        description="Behind prod's load balancer, web ports admit only the load balancer.",
        validate=prod_web_only_through_load_balancer,
    ),
    ResourceValidationPolicy(
        name="https-on-prod",
        description="Prod's load balancer serves HTTPS with a certificate and redirects HTTP.",
        validate=https_on_prod,
    ),
    StackValidationPolicy(
        name="prod-droplets-behind-load-balancer",
        description="Every prod droplet is in the load balancer's pool.",
        validate=prod_droplets_behind_load_balancer,
    ),
    ResourceValidationPolicy(
        name="boot-needs-no-gpg",
        description="The droplet's boot calls no gpg or keyserver; apt keys are signed-by files.",
        validate=boot_needs_no_gpg,
    ),
    ResourceValidationPolicy(
        name="prod-bucket-protected-and-versioned",
        description="Prod's results bucket is protected and versioned.",
        validate=prod_bucket_protected_and_versioned,
    ),
    StackValidationPolicy(
        name="spaces-keys-grant-own-buckets",
        description="Spaces keys grant read or readwrite on this stack's buckets only.",
        validate=spaces_keys_grant_own_buckets,
    ),
    ResourceValidationPolicy(
        name="user-data-holds-no-secret",
        description="Droplet user data holds no secret but the droplet's own SSH host key.",
        validate=user_data_holds_no_secret,
    ),
]
