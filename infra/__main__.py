"""The canny stack, as `pulumi up` runs it: read settings, then network, host, DNS, deploy.

Pulumi runs this file by path (Pulumi.yaml `main: infra/`) with the python of the virtualenv
Pulumi.yaml names (https://www.pulumi.com/docs/iac/concepts/projects/project-file/, runtime
option `virtualenv`); the project is pip-installed there, so `infra` imports as a package.
"""

import pulumi

from infra.bundle import bundle_files
from infra.cloud_init import RESULTS_MOUNT
from infra.config import DEPLOY_USER, load_settings
from infra.deploy import Deploy, DeployArgs
from infra.dns import Dns, DnsArgs
from infra.host import Host, HostArgs
from infra.network import Network, NetworkArgs

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

host = Host(
    name,
    HostArgs(
        region=settings.region,
        size=settings.size,
        image=settings.image,
        vpc_uuid=network.vpc.id,
        project_id=network.project.id,
        tags=settings.tags,
        admin_cidrs=settings.admin_cidrs,
        deploy_user=DEPLOY_USER,
        ssh_public_key=settings.ssh_public_key,
        ssh_key_name=settings.ssh_key_name,
        production=settings.is_production,
        volume_size_gb=settings.volume_size_gb,
        follows_user_data=not settings.is_production or settings.prod_follows_user_data,
    ),
)

dns = Dns(
    name,
    DnsArgs(
        domain=settings.domain,
        record_name=settings.record_name,
        ipv4=host.public_ipv4,
        # A droplet's own IPv6 changes when it is replaced; prod's address must not (its IPv4
        # is the Reserved IP), so prod publishes no AAAA record.
        ipv6=None if settings.is_production else host.droplet.ipv6_address,
        ttl=3600 if settings.is_production else 300,
        protect=settings.is_production,
    ),
)

deploy = Deploy(
    name,
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
        compose_profiles=("monitoring",) if settings.monitoring else (),
        results_mount=RESULTS_MOUNT if settings.is_production else None,
        cloud_init_timeout=settings.cloud_init_timeout,
        runner=settings.runner,
        runner_name=name,
        deploy_id=settings.deploy_id,
    ),
    opts=pulumi.ResourceOptions(depends_on=[host]),
)

pulumi.export("url", f"http://{settings.hostname}")
pulumi.export("ip", host.public_ipv4)
pulumi.export("dropletIds", [host.droplet.id])
# For known_hosts: `echo "<ip> $(pulumi stack output sshHostKey)" >> ~/.ssh/known_hosts`.
pulumi.export("sshHostKey", host.host_public_key)
# The release this state deployed: CI's prod release rolls back to it (ci/prod_release.py).
pulumi.export("imageTag", settings.image_tag)
pulumi.export("sshCommand", host.public_ipv4.apply(lambda ip: f"ssh {DEPLOY_USER}@{ip}"))
pulumi.export(
    "monitoringTunnel",
    host.public_ipv4.apply(lambda ip: f"ssh -N -L 9090:127.0.0.1:9090 {DEPLOY_USER}@{ip}"),
)
