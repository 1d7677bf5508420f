"""Wiring: each component built from the stack's settings and the components it needs.

Every prod-versus-test decision is a property of the settings (infra/config.py,
infra/component_config.py); these functions only hand the settings to the components'
Args, so infra/__main__.py reads as the list of what a stack is made of.
"""

from __future__ import annotations

import pulumi

from infra.alerts import Alerts, AlertsArgs
from infra.bundle import bundle_files
from infra.cloud_init import RESULTS_MOUNT
from infra.config import DEPLOY_USER, StackSettings
from infra.deploy import Deploy, DeployArgs
from infra.dns import Dns, DnsArgs
from infra.firewall import Firewall, FirewallArgs
from infra.fleet_targets import fleet_targets_json
from infra.host import Host, HostArgs
from infra.load_balancer import LoadBalancer, LoadBalancerArgs
from infra.network import Network, NetworkArgs
from infra.preconditions import require_default_vpc, require_domain_on_dns
from infra.results_bucket import ResultsBucket, ResultsBucketArgs, results_bucket_name


def preconditions(settings: StackSettings) -> None:
    """Before any resource: what the DigitalOcean account must already hold."""
    require_domain_on_dns(settings.dns.domain)
    if settings.network.needs_default_vpc:
        require_default_vpc(settings.network.region)


def network(settings: StackSettings) -> Network:
    return Network(
        settings.name_prefix,
        NetworkArgs(
            region=settings.network.region,
            description=settings.description,
            environment=settings.network.environment,
        ),
    )


def hosts(settings: StackSettings, net: Network) -> list[Host]:
    config, built = settings.host, []
    for index in range(config.droplet_count):
        args = HostArgs(
            region=config.region,
            size=config.size,
            image=config.image,
            vpc_uuid=net.vpc.id,
            project_id=net.project.id,
            tags=settings.tags,
            deploy_user=DEPLOY_USER,
            ssh_key_name=config.ssh_key_name,
            protect=config.protect,
            backups=config.backups,
            delete_before_replace=config.delete_before_replace,
            volume_size_gb=config.volume_size_gb,
            follows_user_data=config.follows_user_data,
            results_volume=settings.results_volume(index),
            reserved_ip=settings.reserved_ip,
        )
        built.append(Host(settings.host_name(index), args))
    return built


def droplet_ids(droplets: list[Host]) -> list[pulumi.Output[int]]:
    return [host.droplet.id.apply(int) for host in droplets]


def load_balancer(
    settings: StackSettings, net: Network, droplets: list[Host]
) -> LoadBalancer | None:
    if not settings.load_balancer.enabled:
        return None
    args = LoadBalancerArgs(
        region=settings.network.region,
        vpc_uuid=net.vpc.id,
        project_id=net.project.id,
        hostname=settings.dns.hostname,
        droplet_ids=droplet_ids(droplets),
        protect=settings.load_balancer.protect,
    )
    return LoadBalancer(settings.name_prefix, args)


def firewall(settings: StackSettings, net: Network, droplets: list[Host]) -> Firewall:
    """Made with the droplets, before the load balancer: it waits for nothing else."""
    args = FirewallArgs(
        droplet_ids=droplet_ids(droplets),
        admin_cidrs=settings.firewall.admin_cidrs,
        public_web=not settings.load_balancer.enabled,
        previous_parent=droplets[0],
        # The fleet Prometheus federates each droplet's over the VPC: 9090 from the VPC only.
        metrics_source=net.vpc.ip_range if settings.deploy.monitoring else None,
    )
    return Firewall(settings.name_prefix, args)


def public_ipv4(droplets: list[Host], balancer: LoadBalancer | None) -> pulumi.Output[str]:
    """The load balancer's address, or the one droplet's own (its Reserved IP on prod)."""
    return balancer.ip if balancer else droplets[0].public_ipv4


def dns(settings: StackSettings, ipv4: pulumi.Output[str], droplets: list[Host]) -> None:
    config = settings.dns
    args = DnsArgs(
        domain=config.domain,
        record_name=config.record_name,
        ipv4=ipv4,
        ipv6=droplets[0].droplet.ipv6_address if settings.publishes_aaaa else None,
        ttl=config.ttl,
        protect=config.protect,
    )
    Dns(settings.name_prefix, args)


def alerts(settings: StackSettings, droplets: list[Host], rolled: list[Deploy]) -> None:
    """The uptime check comes after the last droplet's readiness gate (see AlertsArgs)."""
    if not settings.alerts.enabled:
        return
    args = AlertsArgs(
        url=settings.url,
        droplet_ids=[host.droplet.id for host in droplets],
        emails=settings.alerts.alert_emails,
        slack_webhook_url=settings.alerts.slack_output(),
        after=rolled[-1].gate,
    )
    Alerts(settings.name_prefix, args)


def results_bucket(settings: StackSettings, net: Network) -> ResultsBucket | None:
    """Results in a Spaces bucket every droplet shares, else on the droplet's disk (prod: the
    Volume). The bucket's key goes to the deploy, never an output."""
    config = settings.results
    if not config.spaces:
        return None
    args = ResultsBucketArgs(
        bucket_name=results_bucket_name(settings.name_prefix, settings.dns.domain),
        region=config.region,
        retention_days=config.results_retention_days,
        outlives_stack=config.outlives_stack,
        project_id=net.project.id,
    )
    return ResultsBucket(settings.name_prefix, args)


def _storage_environment(settings: StackSettings, bucket: ResultsBucket | None) -> dict[str, str]:
    environment = {"CANNY_RETENTION_DAYS": str(settings.results.results_retention_days)}
    return environment | (bucket.settings_environment() if bucket else {"CANNY_STORAGE": "file"})


def _fleet_targets(settings: StackSettings, droplets: list[Host]) -> pulumi.Output[str]:
    """The fleet Prometheus' file_sd targets: every droplet's private address and name."""
    addresses = [host.droplet.ipv4_address_private for host in droplets]
    return pulumi.Output.all(*addresses).apply(
        lambda resolved: fleet_targets_json(
            [(settings.host_name(index), address) for index, address in enumerate(resolved)]
        )
    )


def deploys(
    settings: StackSettings,
    net: Network,
    droplets: list[Host],
    balancer: LoadBalancer | None,
    bucket: ResultsBucket | None,
    stack_firewall: Firewall,
) -> list[Deploy]:
    """One droplet at a time: each compose up waits for the previous droplet's gate."""
    config, rolled = settings.deploy, []
    # Behind the load balancer the gateway sees its connections from the VPC's private range:
    # the balancer reaches droplets over their private network
    # (https://docs.digitalocean.com/products/networking/load-balancers/, "Load Balancer
    # Overview": it "will connect to Droplets over the private network").
    trusted_proxies = net.vpc.ip_range if balancer else None
    targets = _fleet_targets(settings, droplets)
    for index, host in enumerate(droplets):
        profiles = config.compose_profiles(index)
        args = DeployArgs(
            host=host.droplet.ipv4_address,
            droplet_id=host.droplet.id,
            host_key=host.host_public_key,
            user=DEPLOY_USER,
            private_key=config.ssh_private_key.output(),
            files=bundle_files(),
            registry_image=config.registry_image,
            image_tag=config.image_tag,
            image_digests=config.image_digests(),
            registry_login=config.registry_stdin(),
            compose_profiles=profiles,
            results_mount=RESULTS_MOUNT if host.volume else None,
            cloud_init_timeout=config.cloud_init_timeout,
            runner=settings.runner,
            runner_name=settings.host_name(index),
            deploy_id=config.deploy_id,
            trusted_proxies=trusted_proxies,
            after=rolled[-1].gate if rolled else None,
            rejoin_seconds=balancer.health_check.rejoin_seconds if balancer else 0,
            firewall=stack_firewall.firewall,
            slack_webhook_url=settings.alertmanager_webhook(index),
            metrics_bind=host.droplet.ipv4_address_private if config.monitoring else None,
            fleet_targets=targets if "monitor" in profiles else None,
            storage_environment=_storage_environment(settings, bucket),
            storage_credentials=bucket.credentials_stdin() if bucket else None,
        )
        rolled.append(
            Deploy(settings.host_name(index), args, opts=pulumi.ResourceOptions(depends_on=[host]))
        )
    return rolled
