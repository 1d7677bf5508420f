"""The canny stack, as `pulumi up` runs it: settings, network, droplets, load balancer,
firewall, DNS, alerts, then a rolling deploy over the droplets.

Pulumi runs this file by path (Pulumi.yaml `main: infra/`) with the python of the virtualenv
Pulumi.yaml names (https://www.pulumi.com/docs/iac/concepts/projects/project-file/, runtime
option `virtualenv`); the project is pip-installed there, so `infra` imports as a package.
"""

import pulumi

from infra.alerts import Alerts, AlertsArgs
from infra.bundle import bundle_files
from infra.cloud_init import RESULTS_MOUNT
from infra.config import DEPLOY_USER, load_settings
from infra.deploy import Deploy, DeployArgs
from infra.dns import Dns, DnsArgs
from infra.firewall import Firewall, FirewallArgs
from infra.fleet_targets import fleet_targets_json
from infra.host import Host, HostArgs
from infra.load_balancer import LoadBalancer, LoadBalancerArgs
from infra.network import Network, NetworkArgs
from infra.results_bucket import ResultsBucket, ResultsBucketArgs, results_bucket_name

settings = load_settings()
name = settings.name_prefix

network = Network(
    name,
    NetworkArgs(
        region=settings.region,
        description=f"canny-platform {settings.stack} stack",
        environment="Production" if settings.is_production else "Staging",
    ),
)


def host_name(index: int) -> str:
    """The first droplet keeps the stack's own name, so a one-droplet stack's resources
    keep theirs when it grows; the others are numbered from 2."""
    return name if index == 0 else f"{name}-{index + 1}"


hosts: list[Host] = []
for index in range(settings.droplet_count):
    hosts.append(
        Host(
            host_name(index),
            HostArgs(
                region=settings.region,
                size=settings.size,
                image=settings.image,
                vpc_uuid=network.vpc.id,
                project_id=network.project.id,
                tags=settings.tags,
                deploy_user=DEPLOY_USER,
                ssh_public_key=settings.ssh_public_key,
                ssh_key_name=settings.ssh_key_name,
                production=settings.is_production,
                volume_size_gb=settings.volume_size_gb,
                follows_user_data=not settings.is_production or settings.prod_follows_user_data,
                results_volume=settings.results_on_volume and index == 0,
                reserved_ip=settings.is_production and not settings.load_balancer,
                account_key=hosts[0].account_key if hosts else None,
            ),
        )
    )
droplet_ids = [host.droplet.id.apply(int) for host in hosts]

balancer = None
if settings.load_balancer:
    balancer = LoadBalancer(
        name,
        LoadBalancerArgs(
            region=settings.region,
            vpc_uuid=network.vpc.id,
            project_id=network.project.id,
            hostname=settings.hostname,
            droplet_ids=droplet_ids,
            protect=settings.is_production,
        ),
    )

firewall = Firewall(
    name,
    FirewallArgs(
        droplet_ids=droplet_ids,
        admin_cidrs=settings.admin_cidrs,
        load_balancer_uid=balancer.balancer.id if balancer else None,
        previous_parent=hosts[0],
        metrics_source=network.vpc.ip_range if settings.monitoring else None,
    ),
)

# The load balancer's address, or the one droplet's own (its Reserved IP on prod).
public_ipv4 = balancer.ip if balancer else hosts[0].public_ipv4
dns = Dns(
    name,
    DnsArgs(
        domain=settings.domain,
        record_name=settings.record_name,
        ipv4=public_ipv4,
        # A droplet's own IPv6 changes when it is replaced, and the load balancer's record
        # is IPv4 only; prod's address must not change, so prod publishes no AAAA record.
        ipv6=None if settings.is_production or balancer else hosts[0].droplet.ipv6_address,
        ttl=3600 if settings.is_production else 300,
        protect=settings.is_production,
    ),
)

if settings.alert_emails or settings.slack_webhook_url:
    Alerts(
        name,
        AlertsArgs(
            url=settings.url,
            droplet_ids=[host.droplet.id for host in hosts],
            emails=settings.alert_emails,
            slack_webhook_url=settings.slack_webhook_url.output()
            if settings.slack_webhook_url
            else None,
        ),
    )

# Results in a Spaces bucket every droplet shares (canny:resultsStore spaces), else on the
# droplet's disk (prod: the Volume). The bucket's key goes to the deploy, never an output.
results_bucket = (
    ResultsBucket(
        name,
        ResultsBucketArgs(
            bucket_name=results_bucket_name(name, settings.domain),
            region=settings.region,
            retention_days=settings.results_retention_days,
            production=settings.is_production,
        ),
    )
    if settings.results_store == "spaces"
    else None
)
storage_environment = {"CANNY_RETENTION_DAYS": str(settings.results_retention_days)}
storage_environment |= (
    results_bucket.settings_environment() if results_bucket else {"CANNY_STORAGE": "file"}
)

# Behind the load balancer the gateway sees its connections from the VPC's private range:
# the balancer reaches droplets over their private network
# (https://docs.digitalocean.com/products/networking/load-balancers/, "Load Balancer
# Overview": it "will connect to Droplets over the private network").
trusted_proxies = network.vpc.ip_range if balancer else None

# Fleet monitoring: the first droplet runs the one fleet Prometheus and Alertmanager
# (compose profile `monitor`), federating every droplet's Prometheus, published on that
# droplet's private address, from a targets file written there (infra/fleet_targets.py).
MONITOR_INDEX = 0
fleet_targets = pulumi.Output.all(*[host.droplet.ipv4_address_private for host in hosts]).apply(
    lambda addresses: fleet_targets_json(
        [(host_name(index), address) for index, address in enumerate(addresses)]
    )
)


def compose_profiles(index: int) -> tuple[str, ...]:
    if not settings.monitoring:
        return ()
    return ("monitoring", "monitor") if index == MONITOR_INDEX else ("monitoring",)


deploys: list[Deploy] = []
for index, host in enumerate(hosts):
    deploys.append(
        Deploy(
            host_name(index),
            DeployArgs(
                host=host.droplet.ipv4_address,
                droplet_id=host.droplet.id,
                host_key=host.host_public_key,
                user=DEPLOY_USER,
                private_key=settings.ssh_private_key.output(),
                files=bundle_files(),
                registry_image=settings.registry_image,
                image_tag=settings.image_tag,
                registry_login=settings.registry_stdin(),
                compose_profiles=compose_profiles(index),
                results_mount=RESULTS_MOUNT if host.volume else None,
                cloud_init_timeout=settings.cloud_init_timeout,
                runner=settings.runner,
                runner_name=host_name(index),
                deploy_id=settings.deploy_id,
                trusted_proxies=trusted_proxies,
                # One droplet at a time: this one's compose up waits for the previous gate.
                after=deploys[-1].gate if deploys else None,
                slack_webhook_url=settings.slack_webhook_url.output()
                if settings.slack_webhook_url and "monitor" in compose_profiles(index)
                else None,
                metrics_bind=host.droplet.ipv4_address_private if settings.monitoring else None,
                fleet_targets=fleet_targets if "monitor" in compose_profiles(index) else None,
                storage_environment=storage_environment,
                storage_credentials=results_bucket.credentials_stdin() if results_bucket else None,
            ),
            opts=pulumi.ResourceOptions(depends_on=[host]),
        )
    )

first = hosts[0]
pulumi.export("url", settings.url)
pulumi.export("ip", public_ipv4)
pulumi.export("dropletIds", [host.droplet.id for host in hosts])
# For known_hosts: `echo "<ip> $(pulumi stack output sshHostKey)" >> ~/.ssh/known_hosts`.
pulumi.export("sshHostKey", first.host_public_key)
pulumi.export("sshHostKeys", [host.host_public_key for host in hosts])
pulumi.export("dropletIps", [host.droplet.ipv4_address for host in hosts])
# The release this state deployed: CI's prod release rolls back to it (ci/prod_release.py).
pulumi.export("imageTag", settings.image_tag)
# The first droplet's (behind a load balancer each droplet is reached on its own address).
pulumi.export("sshCommand", first.public_ipv4.apply(lambda ip: f"ssh {DEPLOY_USER}@{ip}"))
if results_bucket:
    pulumi.export("resultsBucket", results_bucket.bucket.name)
# The fleet Prometheus on the first droplet (compose publishes it on 127.0.0.1:9091):
# http://localhost:9090 while the tunnel runs.
pulumi.export(
    "monitoringTunnel",
    first.public_ipv4.apply(lambda ip: f"ssh -N -L 9090:127.0.0.1:9091 {DEPLOY_USER}@{ip}"),
)
