"""infra/policy/rules.py: each rule passes the real program and catches the breach it names."""

import copy
import dataclasses

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from infra.offline import PlannedResource
from infra.policy.rules import (
    POLICIES,
    droplet_image_pinned,
    only_web_ports_public,
    ports_of,
    prod_resources_protected,
    required_tags,
    ssh_restricted_on_prod,
    stack_of,
)


def validation_args(resource: PlannedResource) -> ResourceValidationArgs:
    """What the policy engine hands a rule, built from a mocked registration."""
    options = PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )
    return ResourceValidationArgs(
        resource.type, resource.inputs, resource.urn, resource.name, options, None
    )


def violations(rule, resource: PlannedResource) -> list[str]:
    found: list[str] = []
    rule(validation_args(resource), lambda message, urn=None: found.append(message))
    return found


@pytest.mark.parametrize("stack", ["prod", "test", "test-feature-x"])
def test_the_program_passes_every_policy(run_stack, stack):
    run = run_stack(stack)
    for policy in POLICIES:
        for resource in run.resources:
            assert not violations(policy.validate, resource), f"{policy.name} on {resource.urn}"


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
    firewall = run_stack("test").one("digitalocean:index/firewall:Firewall")
    found = violations(only_web_ports_public, _with_inbound(firewall, rule))
    assert found and "open to the internet" in found[0], found


def test_ssh_from_anywhere_is_a_violation_on_prod_only(run_stack):
    open_ssh = {"protocol": "tcp", "portRange": "22", "sourceAddresses": ["0.0.0.0/0"]}
    prod = run_stack("prod").one("digitalocean:index/firewall:Firewall")
    test = run_stack("test").one("digitalocean:index/firewall:Firewall")
    assert violations(ssh_restricted_on_prod, _with_inbound(prod, open_ssh))
    assert not violations(ssh_restricted_on_prod, test), "test stacks may open SSH (key-only)"


@pytest.mark.parametrize(
    "type_token",
    [
        "digitalocean:index/droplet:Droplet",
        "digitalocean:index/volume:Volume",
        "digitalocean:index/reservedIp:ReservedIp",
        "digitalocean:index/dnsRecord:DnsRecord",
    ],
)
def test_unprotected_prod_resources_are_violations(run_stack, type_token):
    resource = run_stack("prod").by_type(type_token)[0]
    found = violations(prod_resources_protected, dataclasses.replace(resource, protect=False))
    assert found == [f"{resource.name}: prod {type_token} must have protect=True"]


@pytest.mark.parametrize("image", ["debian-x64", "ubuntu-latest", "docker-20-04", ""])
def test_moving_images_are_violations(run_stack, image):
    droplet = run_stack("test").one("digitalocean:index/droplet:Droplet")
    changed = dataclasses.replace(droplet, inputs={**droplet.inputs, "image": image})
    assert violations(droplet_image_pinned, changed), f"{image!r} should not count as pinned"


@pytest.mark.parametrize("tags", [[], ["canny"], ["canny-test", "ephemeral"]])
def test_missing_tags_are_violations(run_stack, tags):
    droplet = run_stack("test").one("digitalocean:index/droplet:Droplet")
    changed = dataclasses.replace(droplet, inputs={**droplet.inputs, "tags": tags})
    assert violations(required_tags, changed)


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
