"""infra/policy/rules.py: each rule passes the real program and catches the breach it names."""

import copy
import dataclasses
import re

import pytest
import yaml
from pulumi_policy import (
    StackValidationPolicy,
)

from infra.fleet_targets import FEDERATION_PORT
from infra.offline import OfflineRun, PlannedResource
from infra.policy.rules import (
    METRICS_PORTS,
    POLICIES,
    boot_needs_no_gpg,
    firewalls_select_by_id,
    https_on_prod,
    metrics_ports_only_from_the_vpc,
    only_web_ports_public,
    ports_of,
    prod_droplets_behind_load_balancer,
    prod_resources_protected,
    prod_web_only_through_load_balancer,
    remote_steps_follow_the_droplet,
    required_tags,
    stack_of,
    user_data_holds_no_secret,
)
from infra.stack_file import REPO_ROOT
from tests.infra.policy_checks import stack_violations, violations
from tests.infra.resource_types import DROPLET, FIREWALL, LOAD_BALANCER, VPC


def revealed(run: OfflineRun, resource: PlannedResource) -> dict:
    return run.provider_inputs[resource.name]


@pytest.mark.parametrize(
    ("stack", "overrides"),
    [
        ("prod", {}),
        ("prod", {"dropletCount": "3", "resultsStore": "spaces"}),
        ("prod", {"loadBalancer": "false", "dropletCount": "1"}),
        ("prod", {"dropletCount": "1", "resultsStore": "volume"}),
        ("prod", {"adminCidrs": '["0.0.0.0/0"]', "allowSshFromAnywhere": "true"}),
        ("test", {}),
        ("test-feature-x", {}),
    ],
    ids=[
        "prod",
        "prod-fleet",
        "prod-without-balancer",
        "prod-on-a-volume",
        # The config's own escape hatch: a policy refusing it would be a second, other rule.
        "prod-ssh-open-on-purpose",
        "test",
        "test-feature-x",
    ],
)
def test_the_program_passes_every_policy(run_stack, stack, overrides):
    run = run_stack(stack, runnerToken="glrt-Policy-Sentinel", **overrides)
    for policy in POLICIES:
        if isinstance(policy, StackValidationPolicy):
            assert not stack_violations(policy.validate, run), policy.name
            continue
        for resource in run.resources:
            props = run.provider_inputs.get(resource.name) if resource.custom else None
            found = violations(policy.validate, resource, props)
            assert not found, f"{policy.name} on {resource.urn}: {found}"


def _with_inbound(resource: PlannedResource, rule: dict) -> PlannedResource:
    inputs = copy.deepcopy(resource.inputs)
    inputs["inboundRules"].append(rule)
    return dataclasses.replace(resource, inputs=inputs)


@pytest.mark.parametrize(
    "rule",
    [
        {"protocol": "tcp", "portRange": "9090", "sourceAddresses": ["0.0.0.0/0"]},
        {"protocol": "tcp", "portRange": "8000-8100", "sourceAddresses": ["::/0"]},
        {"protocol": "tcp", "portRange": "all", "sourceAddresses": ["0.0.0.0/0"]},
        {"protocol": "udp", "portRange": "53", "sourceAddresses": ["0.0.0.0/0"]},
    ],
    ids=["prometheus", "backend-range", "all-tcp", "udp"],
)
def test_public_non_web_ports_are_violations(run_stack, rule):
    firewall = run_stack("test").one(FIREWALL)
    found = violations(only_web_ports_public, _with_inbound(firewall, rule))
    assert found and "open to the internet" in found[0], found


@pytest.mark.parametrize(
    "type_token",
    [
        DROPLET,
        "digitalocean:index/volume:Volume",
        "digitalocean:index/reservedIp:ReservedIp",
        "digitalocean:index/dnsRecord:DnsRecord",
        "digitalocean:index/loadBalancer:LoadBalancer",
    ],
)
def test_unprotected_prod_resources_are_violations(run_stack, type_token):
    overrides = {}
    if type_token.endswith(("ReservedIp", "Volume")):
        overrides = {"dropletCount": "1", "resultsStore": "volume"}
    if type_token.endswith("ReservedIp"):
        overrides["loadBalancer"] = "false"
    resource = run_stack("prod", **overrides).by_type(type_token)[0]
    found = violations(prod_resources_protected, dataclasses.replace(resource, protect=False))
    assert found == [f"{resource.name}: prod {type_token} must have protect=True"]


@pytest.mark.parametrize("tags", [[], ["canny"], ["canny-test", "ephemeral"]])
def test_missing_tags_are_violations(run_stack, tags):
    droplet = run_stack("test").one(DROPLET)
    changed = dataclasses.replace(droplet, inputs={**droplet.inputs, "tags": tags})
    assert violations(required_tags, changed)


@pytest.mark.parametrize(
    ("type_token", "inputs"),
    [
        (FIREWALL, {"tags": ["canny"]}),
        ("digitalocean:index/loadBalancer:LoadBalancer", {"dropletTag": "canny"}),
    ],
)
def test_selecting_droplets_by_tag_is_a_violation(run_stack, type_token, inputs):
    firewall = run_stack("test").one(FIREWALL)
    changed = dataclasses.replace(firewall, type=type_token, inputs={**firewall.inputs, **inputs})
    assert violations(firewalls_select_by_id, changed)


def test_a_remote_step_without_the_droplet_in_its_triggers_is_a_violation(run_stack):
    run = run_stack("test")
    copy_step = next(item for item in run.resources if item.type == "command:remote:CopyToRemote")
    droplet_urn = run.one(DROPLET).urn
    dependencies = dict(copy_step.property_dependencies)
    assert droplet_urn in dependencies["triggers"], "the program's copy follows the droplet"
    dependencies["triggers"] = ()
    changed = dataclasses.replace(copy_step, property_dependencies=dependencies)
    run.resources = [changed if item is copy_step else item for item in run.resources]
    assert stack_violations(remote_steps_follow_the_droplet, run) == [
        f"{copy_step.name}: its triggers must include the droplet's id"
    ]


def _with_user_data(run: OfflineRun, change) -> tuple[PlannedResource, dict]:
    droplet = run.by_type(DROPLET)[0]
    props = copy.deepcopy(revealed(run, droplet))
    document = yaml.safe_load(props["userData"])
    change(document)
    props["userData"] = "#cloud-config\n" + yaml.safe_dump(document)
    return droplet, props


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc.update(
            apt={"sources": {"docker.list": {"source": "deb x", "keyid": "0EBFCD88"}}}
        ),
        lambda doc: doc["runcmd"].append(["gpg", "--dearmor", "-o", "/etc/apt/keyrings/x.gpg"]),
        lambda doc: doc["runcmd"].append(["sh", "-c", "curl -s https://x | apt-key add -"]),
        lambda doc: doc["write_files"].append(
            {
                "path": "/etc/apt/sources.list.d/x.list",
                "content": "deb https://x.example/ stable main\n",
            }
        ),
    ],
    ids=["apt-keyid", "gpg-dearmor", "apt-key", "unsigned-source"],
)
def test_gpg_keyservers_and_unpinned_sources_at_boot_are_violations(run_stack, change):
    droplet, props = _with_user_data(run_stack("test"), change)
    assert violations(boot_needs_no_gpg, droplet, props)


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc["write_files"].append(
            {"path": "/etc/gitlab-runner/env", "content": "CI_SERVER_TOKEN=glrt-abcdef\n"}
        ),
        lambda doc: doc["write_files"].append(
            {"path": "/root/key", "content": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n"}
        ),
        lambda doc: doc["runcmd"].append(["sh", "-c", "echo REGISTRY_PASSWORD=hunter2 > /x"]),
    ],
    ids=["runner-token", "private-key", "password"],
)
def test_secrets_in_user_data_are_violations(run_stack, change):
    droplet, props = _with_user_data(run_stack("prod"), change)
    assert violations(user_data_holds_no_secret, droplet, props)


@pytest.mark.parametrize(
    ("port_range", "expected"),
    [
        ("22", range(22, 23)),
        ("80-443", range(80, 444)),
        ("all", range(1, 65536)),
        (None, range(1, 65536)),
    ],
)
def test_port_ranges(port_range, expected):
    assert ports_of(port_range) == expected


def test_stack_is_read_from_the_urn():
    assert stack_of("urn:pulumi:test-a-b::canny::digitalocean:index/vpc:Vpc::x") == "test-a-b"


FLEET = {"dropletCount": "2", "resultsStore": "spaces"}


def _replaced(run: OfflineRun, resource: PlannedResource, **changes) -> OfflineRun:
    changed = dataclasses.replace(resource, **changes)
    run.resources = [changed if item is resource else item for item in run.resources]
    return run


@pytest.mark.parametrize(
    "rule",
    [
        {"protocol": "tcp", "portRange": "80", "sourceAddresses": ["0.0.0.0/0"]},
        {"protocol": "tcp", "portRange": "443", "sourceAddresses": ["::/0"]},
        {"protocol": "tcp", "portRange": "1-1024", "sourceAddresses": ["198.51.100.0/24"]},
    ],
    ids=["http-anywhere", "https-anywhere", "range-from-a-network"],
)
def test_web_ports_around_prods_load_balancer_are_violations(run_stack, rule):
    run = run_stack("prod", **FLEET)
    assert not stack_violations(prod_web_only_through_load_balancer, run)
    firewall = run.named("canny-prod-firewall")
    found = stack_violations(
        prod_web_only_through_load_balancer,
        _replaced(run, firewall, inputs=_with_inbound(firewall, rule).inputs),
    )
    assert found and "only its uid may reach the web ports" in found[0], found


def test_web_ports_open_to_all_are_fine_on_prod_without_a_load_balancer(run_stack):
    """Only the balancer's presence makes an open web port a way around it."""
    run = run_stack("prod", loadBalancer="false", dropletCount="1")
    assert not stack_violations(prod_web_only_through_load_balancer, run)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda inputs: inputs["forwardingRules"][0].pop("certificateName"),
            "needs a 443 https forwarding rule with a certificate",
        ),
        (
            lambda inputs: inputs["forwardingRules"][0].update(entryProtocol="http"),
            "needs a 443 https forwarding rule with a certificate",
        ),
        (
            lambda inputs: inputs.update(redirectHttpToHttps=False),
            "must redirect HTTP to HTTPS",
        ),
        (lambda inputs: inputs.pop("redirectHttpToHttps"), "must redirect HTTP to HTTPS"),
    ],
    ids=["no-certificate", "plain-http-on-443", "redirect-off", "redirect-unset"],
)
def test_prod_load_balancer_without_https_is_a_violation(run_stack, change, message):
    balancer = run_stack("prod").one(LOAD_BALANCER)
    assert not violations(https_on_prod, balancer)
    inputs = copy.deepcopy(balancer.inputs)
    inputs["forwardingRules"].sort(key=lambda rule: -rule["entryPort"])
    change(inputs)
    found = violations(https_on_prod, dataclasses.replace(balancer, inputs=inputs))
    assert found and message in found[0], found


def test_a_prod_droplet_outside_the_load_balancer_is_a_violation(run_stack):
    run = run_stack("prod", **FLEET)
    assert not stack_violations(prod_droplets_behind_load_balancer, run)
    balancer = run.one(LOAD_BALANCER)
    pooled = balancer.property_dependencies["dropletIds"]
    assert len(pooled) == 2, "the program pools both droplets"
    dependencies = {**balancer.property_dependencies, "dropletIds": pooled[:1]}
    found = stack_violations(
        prod_droplets_behind_load_balancer,
        _replaced(run, balancer, property_dependencies=dependencies),
    )
    assert len(found) == 1 and "prod droplet is not behind the load balancer" in found[0], found


@pytest.mark.parametrize(
    "rule",
    [
        {"protocol": "tcp", "portRange": "9090", "sourceAddresses": ["0.0.0.0/0"]},
        {"protocol": "tcp", "portRange": "9090", "sourceAddresses": ["198.51.100.7/32"]},
        {"protocol": "tcp", "portRange": "9100", "sourceAddresses": ["10.0.0.0/8"]},
        {"protocol": "tcp", "portRange": "1-65535", "sourceAddresses": ["203.0.113.0/24"]},
        {"protocol": "tcp", "portRange": "9093", "sourceTags": ["canny"]},
        {"protocol": "tcp", "portRange": "8000", "sourceAddresses": ["not-an-address"]},
    ],
    ids=["anywhere", "admin-address", "wider-than-a-vpc", "all-ports", "tag", "garbage"],
)
def test_a_metrics_port_open_beyond_the_vpc_is_a_violation(run_stack, rule):
    run = run_stack("prod", **FLEET)
    assert not stack_violations(metrics_ports_only_from_the_vpc, run)
    firewall = run.named("canny-prod-firewall")
    found = stack_violations(
        metrics_ports_only_from_the_vpc,
        _replaced(run, firewall, inputs=_with_inbound(firewall, rule).inputs),
    )
    assert found and "only the stack's VPC range may reach them" in found[0], found


def test_a_metrics_port_open_to_another_vpc_range_is_a_violation(run_stack):
    """Once the VPC's range is known, a private range outside it (another VPC) is beyond it."""
    run = run_stack("prod", **FLEET)
    vpc = run.one(VPC)
    run = _replaced(run, vpc, inputs={**vpc.inputs, "ipRange": "10.110.0.0/20"})
    assert not stack_violations(metrics_ports_only_from_the_vpc, run)
    firewall = run.named("canny-prod-firewall")
    other = {"protocol": "tcp", "portRange": "9090", "sourceAddresses": ["10.120.0.0/20"]}
    found = stack_violations(
        metrics_ports_only_from_the_vpc,
        _replaced(run, firewall, inputs=_with_inbound(firewall, other).inputs),
    )
    assert found and "10.120.0.0/20" in found[0], found


def _published_host_ports() -> dict[str, int]:
    """Service -> host port of every `ports:` entry in app/compose.yaml (short syntax
    `[ip:]host:container`, a part possibly `${VAR:-default}`, read as its default)."""
    compose = yaml.safe_load((REPO_ROOT / "app" / "compose.yaml").read_text())
    return {
        name: int(re.sub(r"\$\{[^}:]*:-([^}]*)\}", r"\1", entry).rsplit(":", 2)[-2])
        for name, service in compose["services"].items()
        for entry in service.get("ports", [])
    }


def test_every_port_compose_publishes_but_the_gateways_is_a_metrics_port():
    """The rule can only guard ports it knows: a new published exporter must join it."""
    published = _published_host_ports()
    gateway = published.pop("gateway")
    assert gateway not in METRICS_PORTS
    assert set(published.values()) <= METRICS_PORTS, published
    assert published["prometheus"] == FEDERATION_PORT, "the firewall opens FEDERATION_PORT"
