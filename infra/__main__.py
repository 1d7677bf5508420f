"""The canny stack, as `pulumi up` runs it: settings, what the account must already hold,
network, droplets with their firewall, load balancer, DNS, results bucket, the owner-key
secrets, a rolling deploy over the droplets, then alerts.

Pulumi runs this file by path (Pulumi.yaml `main: infra/`) with the python of the virtualenv
Pulumi.yaml names (https://www.pulumi.com/docs/iac/concepts/projects/project-file/, runtime
option `virtualenv`); the project is pip-installed there, so `infra` imports as a package.
What differs between prod and test stacks is decided in the settings (infra/config.py).
"""

import pulumi

from infra import stack
from infra.config import DEPLOY_USER, load_settings

settings = load_settings()
stack.preconditions(settings)
network = stack.network(settings)
hosts = stack.hosts(settings, network)
firewall = stack.firewall(settings, network, hosts)
balancer = stack.load_balancer(settings, network, hosts)
public_ipv4 = stack.public_ipv4(hosts, balancer)
stack.dns(settings, public_ipv4, hosts)
results_bucket = stack.results_bucket(settings, network)
owner_keys = stack.owner_keys(settings)
deploys = stack.deploys(settings, network, hosts, balancer, results_bucket, firewall, owner_keys)
stack.alerts(settings, hosts, deploys)

first = hosts[0]
pulumi.export("url", settings.url)
pulumi.export("ip", public_ipv4)
pulumi.export("dropletIds", [host.droplet.id for host in hosts])
# For known_hosts: `echo "<ip> $(pulumi stack output sshHostKey)" >> ~/.ssh/known_hosts`.
pulumi.export("sshHostKey", first.host_public_key)
pulumi.export("sshHostKeys", [host.host_public_key for host in hosts])
pulumi.export("dropletIps", [host.droplet.ipv4_address for host in hosts])
# The release this state deployed: CI's prod release rolls back to it (ci/prod_release.py).
pulumi.export("imageTag", settings.deploy.image_tag)
# The first droplet's (behind a load balancer each droplet is reached on its own address).
pulumi.export("sshCommand", first.public_ipv4.apply(lambda ip: f"ssh {DEPLOY_USER}@{ip}"))
if results_bucket:
    pulumi.export("resultsBucket", results_bucket.bucket.name)
# The fleet Prometheus on the first droplet (compose publishes it on 127.0.0.1:9091).
pulumi.export(
    "monitoringTunnel",
    first.public_ipv4.apply(lambda ip: f"ssh -N -L 9090:127.0.0.1:9091 {DEPLOY_USER}@{ip}"),
)
