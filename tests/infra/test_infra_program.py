"""The real program (infra/__main__.py) under mocks, run fresh per test, for both stack kinds."""

import json

import pytest

from infra.config import ConfigError
from infra.offline import (
    MOCK_IPV4,
    MOCK_RESERVED_IPV4,
    OfflineMocks,
    RecordingMonitor,
    run_program,
)
from tests.infra.conftest import stack_config

DROPLET = "digitalocean:index/droplet:Droplet"
FIREWALL = "digitalocean:index/firewall:Firewall"
VOLUME = "digitalocean:index/volume:Volume"
RESERVED_IP = "digitalocean:index/reservedIp:ReservedIp"
DNS_RECORD = "digitalocean:index/dnsRecord:DnsRecord"
COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
COMPONENTS = ("canny:infra:Network", "canny:infra:Host", "canny:infra:Dns", "canny:infra:Deploy")
ANYWHERE = ["0.0.0.0/0", "::/0"]

EXPECTED_COUNTS = {
    "prod": {DROPLET: 1, FIREWALL: 1, VOLUME: 1, RESERVED_IP: 1, DNS_RECORD: 2, COMMAND: 3},
    "test": {DROPLET: 1, FIREWALL: 1, VOLUME: 0, RESERVED_IP: 0, DNS_RECORD: 2, COMMAND: 3},
}


@pytest.mark.parametrize("stack", ["prod", "test"])
def test_resource_counts_per_stack(run_stack, stack):
    run = run_stack(stack)
    counts = {type_token: len(run.by_type(type_token)) for type_token in EXPECTED_COUNTS[stack]}
    assert counts == EXPECTED_COUNTS[stack], f"{stack}: unexpected resource counts {counts}"


@pytest.mark.parametrize("stack", ["prod", "test-feature-x"])
def test_every_resource_sits_in_a_component_and_is_named_after_it(run_stack, stack):
    run = run_stack(stack)
    components = {item.urn: item for item in run.resources if item.type in COMPONENTS}
    assert sorted(item.type for item in components.values()) == sorted(COMPONENTS)
    for item in run.resources:
        if item.type in COMPONENTS:
            assert item.parent is None, f"{item.urn} should sit at the stack root"
            continue
        parent = components.get(item.parent or "")
        assert parent is not None, f"{item.urn} has no component parent (parent {item.parent})"
        assert item.name.startswith(f"{parent.name}-"), f"{item.urn} not prefixed by {parent.name}"


def test_two_review_stacks_never_share_a_resource_name(run_stack):
    first = {item.name for item in run_stack("test-one").resources}
    second = {item.name for item in run_stack("test-two").resources}
    assert not first & second, f"names would collide in one account: {sorted(first & second)}"


def _inbound(run):
    return {
        rule["portRange"]: rule["sourceAddresses"]
        for rule in run.one(FIREWALL).inputs["inboundRules"]
        if rule["protocol"] == "tcp"
    }


def test_firewall_opens_web_to_all_and_ssh_to_admins_only(run_stack):
    run = run_stack("prod", adminCidrs=["198.51.100.7/32"])
    rules = run.one(FIREWALL).inputs["inboundRules"]
    assert _inbound(run) == {"80": ANYWHERE, "443": ANYWHERE, "22": ["198.51.100.7/32"]}
    assert len(rules) == 3, f"nothing else may be inbound, got {json.dumps(rules)}"
    droplet_ids = run.one(FIREWALL).inputs["dropletIds"]
    assert droplet_ids == [int(run.one(DROPLET).resource_id)], f"not on the droplet: {droplet_ids}"


@pytest.mark.parametrize(
    "type_token", [DROPLET, VOLUME, RESERVED_IP, DNS_RECORD], ids=lambda token: token.split(":")[-1]
)
def test_prod_protects_what_must_survive(run_stack, type_token):
    for item in run_stack("prod").by_type(type_token):
        assert item.protect, f"{item.urn} must be protected on prod"


def test_prod_droplet_ignores_user_data_drift_keeps_backups_and_volume(run_stack):
    run = run_stack("prod")
    droplet = run.one(DROPLET)
    assert droplet.ignore_changes == ("userData",), f"{droplet.urn}: {droplet.ignore_changes}"
    assert droplet.inputs["backups"] is True, f"{droplet.urn} must have backups on prod"
    volume = run.one(VOLUME)
    assert volume.retain_on_delete, f"{volume.urn} must be retained on delete"
    assert droplet.inputs["volumeIds"], f"{droplet.urn} must attach the results volume"


@pytest.mark.parametrize("stack", ["test", "test-feature-x"])
def test_test_stacks_are_unprotected_small_and_tagged_ephemeral(run_stack, stack):
    run = run_stack(stack)
    assert not [item.urn for item in run.resources if item.protect], "nothing protected on test"
    droplet = run.one(DROPLET)
    assert "ephemeral" in droplet.inputs["tags"], f"{droplet.urn} tags {droplet.inputs['tags']}"
    assert droplet.inputs["size"] == "s-1vcpu-2gb"
    assert not droplet.inputs.get("backups"), f"{droplet.urn} needs no backups"
    assert droplet.ignore_changes == (), "a test droplet follows cloud-init edits"


@pytest.mark.parametrize(
    ("stack", "overrides", "name", "ipv4"),
    [
        ("prod", {}, "@", MOCK_RESERVED_IPV4),
        ("prod", {"subdomain": "edges"}, "edges", MOCK_RESERVED_IPV4),
        ("test", {}, "test.test", MOCK_IPV4),
        ("test-feature-x", {}, "test-feature-x.test", MOCK_IPV4),
    ],
)
def test_dns_records_name_and_address(run_stack, stack, overrides, name, ipv4):
    run = run_stack(stack, **overrides)
    records = {item.inputs["type"]: item.inputs for item in run.by_type(DNS_RECORD)}
    assert set(records) == {"A", "AAAA"}
    assert records["A"]["name"] == records["AAAA"]["name"] == name
    assert records["A"]["domain"] == "example.com"
    assert records["A"]["value"] == ipv4, f"A record points at {records['A']['value']}"


def test_deploy_runs_in_order_wait_copy_compose_gate(run_stack):
    run = run_stack("prod")
    by_name = {item.name: item for item in run.resources}
    wait, compose_up, gate = (
        by_name["canny-prod-wait-cloud-init"],
        by_name["canny-prod-compose-up"],
        by_name["canny-prod-readiness-gate"],
    )
    copies = run.by_type(COPY)
    assert copies, "the bundle must be copied"
    for copy in copies:
        assert wait.urn in copy.depends_on, f"{copy.urn} must wait for cloud-init"
        assert copy.urn in compose_up.depends_on, f"compose-up must come after {copy.urn}"
    assert compose_up.urn in gate.depends_on, "the readiness gate must come after compose-up"
    last = {item.urn for item in run.resources if gate.urn in item.depends_on}
    assert not last, f"the gate must be the last deploy step, yet {last} follow it"


def test_a_new_deploy_id_re_runs_compose_up_and_the_gate(run_stack):
    """CI sets canny:deployId per job, so a retried deploy is a change Pulumi acts on."""
    run = run_stack("test", **{"canny:deployId": "job-1234"})
    deploys = [
        command
        for command in run.by_type(COMMAND)
        if command.name.endswith(("compose-up", "readiness-gate"))
    ]
    assert len(deploys) == 2, [command.name for command in run.by_type(COMMAND)]
    for command in deploys:
        assert "job-1234" in command.inputs["triggers"], f"{command.urn} ignores the deploy id"


def test_deploy_command_carries_tag_and_profile_but_no_secret(run_stack):
    run = run_stack(
        "prod", imageTag="feedc0de", registryUser="bot", registryPassword="pw-Very-Secret-9"
    )
    compose_up = next(item for item in run.by_type(COMMAND) if item.name.endswith("compose-up"))
    create = compose_up.inputs["create"]
    assert create.endswith(
        "bash /opt/canny/bin/deploy.sh registry.gitlab.com/example/canny-platform feedc0de"
    ), create
    assert "COMPOSE_PROFILES=monitoring" in create and "CANNY_RESULTS_MOUNT=" in create
    assert compose_up.inputs["stdin"] == "[secret]", "the registry login must be a secret stdin"
    received = run.provider_inputs[compose_up.name]["stdin"]
    assert received == "bot\npw-Very-Secret-9\n", "deploy.sh reads user, then password"


@pytest.mark.parametrize(
    ("stack", "overrides"),
    [
        ("prod", {"runnerToken": "glrt-Token-Sentinel-1", "registryPassword": "pw-Sentinel-2"}),
        ("test-feature-x", {"runnerToken": "glrt-Token-Sentinel-1"}),
    ],
)
def test_no_secret_value_reaches_any_input_or_output(run_stack, stack, overrides):
    if "registryPassword" in overrides:
        overrides["registryUser"] = "user-Sentinel-3"
    overrides["sshPrivateKey"] = "private-Sentinel-4"
    run = run_stack(stack, **overrides)
    recorded = json.dumps([item.inputs for item in run.resources]) + json.dumps(run.outputs)
    for value in [*overrides.values()]:
        assert value not in recorded, f"secret {value!r} appears in plain inputs or outputs"
    droplet = run.one(DROPLET)
    assert droplet.inputs["userData"] == "[secret]", f"{droplet.urn} user_data must be secret"


@pytest.mark.parametrize(
    ("stack", "url", "ip"),
    [
        ("prod", "http://example.com", MOCK_RESERVED_IPV4),
        ("test-feature-x", "http://test-feature-x.test.example.com", MOCK_IPV4),
    ],
)
def test_stack_outputs(run_stack, stack, url, ip):
    run = run_stack(stack)
    assert run.outputs["url"] == url
    assert run.outputs["ip"] == ip
    assert run.outputs["dropletIds"] == [run.one(DROPLET).resource_id]
    assert run.outputs["imageTag"] == "0123abcd", "CI rolls prod back to this output"
    assert run.outputs["sshCommand"] == f"ssh deploy@{ip}"
    assert run.outputs["monitoringTunnel"] == f"ssh -N -L 9090:127.0.0.1:9090 deploy@{ip}"
    assert not run.secret_outputs, f"outputs must be plain and secret-free: {run.secret_outputs}"


def test_bad_config_stops_the_program_before_any_resource():
    monitor = RecordingMonitor(OfflineMocks())
    config = stack_config("prod", ephemeral="true", region="mars1")
    with pytest.raises(ConfigError, match="prod can never be ephemeral"):
        run_program("prod", config, monitor=monitor)
    assert monitor.planned == [], f"resources registered before the config check: {monitor.planned}"


def test_a_configured_public_key_is_uploaded_and_given_to_the_deploy_user(run_stack):
    public_key = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExample0 ci@example.com"
    )
    run = run_stack("test", sshKeyName=None, sshPublicKey=public_key)
    key = run.one("digitalocean:index/sshKey:SshKey")
    assert key.inputs["publicKey"] == public_key and key.name == "canny-test-ssh-key"
    droplet = run.one(DROPLET)
    assert droplet.inputs["sshKeys"] == [key.resource_id], f"{droplet.urn} must use the new key"
    assert public_key in run.provider_inputs[droplet.name]["userData"]
