"""A stack's first `pulumi up` in a real account: what must hold from its first second.

The real program runs under mocks (infra/offline.py); the dependency chains come from the
registrations the engine would receive (`dependencies` and `propertyDependencies`), which is
the order the engine creates resources in.
"""

from typing import Any

import pytest

from infra.config import ConfigError, parse_settings
from infra.offline import (
    TLS_PRIVATE_KEY,
    OfflineMocks,
    OfflineRun,
    RecordingMonitor,
    run_program,
)
from infra.preconditions import PreconditionError
from infra.stack_file import default_config_file, read_stack_config
from tests.infra.resource_types import (
    CERTIFICATE,
    COMMAND,
    COPY,
    DROPLET,
    FIREWALL,
    LOAD_BALANCER,
    SPACES_BUCKET,
    SSH_KEY,
)
from tests.infra.stack_settings import PER_DEPLOY, stack_config

PROJECT_RESOURCES = "digitalocean:index/projectResources:ProjectResources"


def urns_of(run: OfflineRun, *type_tokens: str) -> set[str]:
    return {item.urn for token in type_tokens for item in run.by_type(token)}


# 1. The droplets' firewall from the first second.


def test_prods_firewall_waits_for_the_droplets_never_for_the_balancer(run_stack):
    """The certificate waits until it is verified (terraform-provider-digitalocean
    resource_certificate.go), the balancer for the certificate: the SSH firewall must not."""
    run = run_stack("prod")
    firewall = run.named("canny-prod-firewall")
    before = run.upstream(firewall.urn)
    assert urns_of(run, DROPLET) <= before, "the firewall selects the droplets by id"
    assert not before & urns_of(run, LOAD_BALANCER, CERTIFICATE), (
        f"{firewall.urn} waits for the load balancer or its certificate"
    )
    ports = {rule["portRange"] for rule in firewall.inputs["inboundRules"]}
    assert ports == {"22", "9090"}, "behind the balancer, web comes only through its firewall"


def test_the_balancers_web_rule_is_a_firewall_of_its_own(run_stack):
    run = run_stack("prod")
    balancer = run.one(LOAD_BALANCER)
    web = run.named("canny-prod-lb-firewall")
    assert web.inputs["inboundRules"] == [
        {"protocol": "tcp", "portRange": "80", "sourceLoadBalancerUids": [balancer.resource_id]}
    ]
    droplet_ids = {int(item.resource_id) for item in run.by_type(DROPLET)}
    assert set(web.inputs["dropletIds"]) == droplet_ids and not web.inputs.get("tags")


@pytest.mark.parametrize("stack", ["prod", "test", "test-feature-x"])
def test_every_remote_step_waits_for_the_droplets_firewall(run_stack, stack):
    run = run_stack(stack)
    firewall = run.named(f"canny-{stack}-firewall")
    steps = run.by_type(COMMAND) + run.by_type(COPY)
    assert steps
    open_early = [step.urn for step in steps if firewall.urn not in run.upstream(step.urn)]
    assert not open_early, f"remote steps that may run before the firewall exists: {open_early}"


def test_without_a_balancer_the_one_firewall_opens_the_web(run_stack):
    run = run_stack("test")
    (firewall,) = run.by_type(FIREWALL)
    ports = {rule["portRange"] for rule in firewall.inputs["inboundRules"]}
    assert {"80", "443", "22"} <= ports


# 2. and 3. What the account must hold, checked before anything is created.


def refused(stack: str, mocks: OfflineMocks) -> tuple[str, list]:
    """The precondition's message, and what was registered before it stopped the program."""
    monitor = RecordingMonitor(mocks)
    with pytest.raises(PreconditionError) as raised:
        run_program(stack, stack_config(stack), monitor=monitor)
    return str(raised.value), monitor.planned


@pytest.mark.parametrize("stack", ["test", "test-feature-x"])
def test_a_test_stack_refuses_to_be_first_in_its_region(stack):
    message, planned = refused(stack, OfflineMocks(default_vpc_regions=()))
    assert "region 'fra1' has no default VPC yet" in message
    assert "doctl vpcs create --name default-fra1 --region fra1" in message
    assert planned == [], "nothing may be created before the check"


def test_prod_may_claim_its_regions_default_vpc():
    run = run_program(
        "prod", stack_config("prod"), monitor=RecordingMonitor(OfflineMocks(default_vpc_regions=()))
    )
    assert run.by_type(DROPLET)


@pytest.mark.parametrize("stack", ["prod", "test-feature-x"])
def test_a_domain_not_on_digitalocean_dns_stops_the_stack_first(stack):
    message, planned = refused(stack, OfflineMocks(dns_domains=("elsewhere.example",)))
    assert "must be a domain on this account's DigitalOcean DNS" in message
    assert "domain not found" in message, "the provider's reason is shown"
    assert planned == []


def unprefixed(config: dict[str, Any]) -> dict[str, Any]:
    return {key.removeprefix("canny:"): value for key, value in config.items()}


SHIPPED_PROD = unprefixed(read_stack_config(default_config_file("prod")).values) | PER_DEPLOY


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("domain", "example.com", "canny:domain: 'example.com' is a placeholder"),
        ("domain", "shop.example.org", "canny:domain: 'shop.example.org' is a placeholder"),
        ("adminCidrs", ["192.0.2.0/24"], "'192.0.2.0/24' is a documentation range"),
        ("adminCidrs", ["198.51.100.7/32"], "'198.51.100.7/32' is a documentation range"),
        ("adminCidrs", ["203.0.113.0/25"], "'203.0.113.0/25' is a documentation range"),
        ("adminCidrs", ["2001:db8::/48"], "'2001:db8::/48' is a documentation range"),
        ("alertEmails", ["ops@example.com"], "'ops@example.com' is a placeholder"),
    ],
)
def test_prod_refuses_the_stack_files_placeholders(key, value, message):
    edited = unprefixed(stack_config("prod"))
    parse_settings("prod", edited)
    with pytest.raises(ConfigError) as raised:
        parse_settings("prod", {**edited, key: value})
    assert message in str(raised.value)


def test_the_shipped_prod_file_is_refused_until_edited():
    with pytest.raises(ConfigError) as raised:
        parse_settings("prod", SHIPPED_PROD)
    for key in ("canny:domain", "canny:adminCidrs", "canny:alertEmails"):
        assert key in str(raised.value)


# 4. Alerts reach someone: monitoring without Alertmanager's receiver is refused.


def test_prod_monitoring_without_a_receiver_is_refused():
    edited = unprefixed(stack_config("prod"))
    del edited["slackWebhookUrl"]
    with pytest.raises(ConfigError) as raised:
        parse_settings("prod", edited)
    assert "canny:monitoring: the fleet's Alertmanager would have no receiver" in str(raised.value)
    assert parse_settings("prod", {**edited, "monitoring": "false"}).deploy.monitoring is False


def test_wider_admin_networks_are_no_placeholders():
    """Only networks inside a documentation range are refused, not ones containing one."""
    edited = unprefixed(stack_config("prod"))
    settings = parse_settings("prod", {**edited, "adminCidrs": ["192.0.0.0/16"]})
    assert settings.firewall.admin_cidrs == ("192.0.0.0/16",)


def test_test_stacks_keep_the_example_values():
    assert parse_settings("test", unprefixed(stack_config("test"))).dns.domain == "example.com"


# 6. The deploy key is an account-level prerequisite.


def test_two_review_stacks_with_the_same_key_only_look_it_up():
    """Uploading was check-then-create: two stacks at once both uploaded, one got a 422."""
    runs = [run_program(stack, stack_config(stack)) for stack in ("test-one", "test-two")]
    for run in runs:
        assert not run.by_type(SSH_KEY), f"{run.stack} uploads a key"
        assert run.one(DROPLET).inputs["sshKeys"] == ["4242"], "the account's key, by name"


# 7. and 9. Prod's host key; the bucket in the project.


@pytest.mark.parametrize(("stack", "protected"), [("prod", True), ("test", False)])
def test_prods_host_keys_are_protected(run_stack, stack, protected):
    """Prod ignores user_data changes: a new host key would never reach the droplet, and
    every remote step, pinned to it, would be locked out."""
    keys = run_stack(stack).by_type(TLS_PRIVATE_KEY)
    assert keys and all(key.protect is protected for key in keys), [k.urn for k in keys]


def test_the_results_bucket_is_one_of_the_projects_resources(run_stack):
    run = run_stack("prod")
    bucket = run.one(SPACES_BUCKET)
    assigned = [
        item
        for item in run.by_type(PROJECT_RESOURCES)
        if f"do:space:{bucket.inputs['name']}" in item.inputs["resources"]
    ]
    assert assigned, "the bucket is missing from the DigitalOcean Project"
