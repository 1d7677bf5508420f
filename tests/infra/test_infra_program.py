"""The real program (infra/__main__.py) under mocks, run fresh per test, for both stack kinds."""

import json

import pytest

import infra.host
from infra.bundle import REMOTE_APP_DIR, bundle_files
from infra.config import ConfigError
from infra.offline import (
    MOCK_HOST_PUBLIC_KEY,
    MOCK_IPV4,
    MOCK_LB_IPV4,
    MOCK_RESERVED_IPV4,
    MOCK_VPC_RANGE,
    OfflineMocks,
    OfflineRun,
    RecordingMonitor,
    run_program,
)
from infra.stack_file import REPO_ROOT, read_stack_config
from tests.infra.resource_types import (
    CERTIFICATE,
    COMMAND,
    COPY,
    DNS_RECORD,
    DROPLET,
    FIREWALL,
    LOAD_BALANCER,
    RANDOM_PASSWORD,
    RESERVED_IP,
    RESERVED_IP_ASSIGNMENT,
    SPACES_KEY,
    UPTIME_CHECK,
    VOLUME,
)
from tests.infra.resource_types import SPACES_BUCKET as BUCKET
from tests.infra.stack_settings import stack_config

# Prod as it was before its fleet defaults: one droplet, results on a Volume (still a choice).
PROD_ON_A_VOLUME = {"dropletCount": "1", "resultsStore": "volume"}
# The remote commands of infra/deploy.py besides the bundle's copies.
EVERY_DROPLET_STEPS = (
    "wait-cloud-init",
    "register-runner",
    "storage-credentials",
    "owner-key-secrets",
    "compose-up",
    "readiness-gate",
)
FIRST_DROPLET_STEPS = ("fleet-targets", "alertmanager-secret")
COMPONENTS = {
    "prod": (
        "canny:infra:Network",
        "canny:infra:Host",
        "canny:infra:Host",
        "canny:infra:LoadBalancer",
        "canny:infra:Firewall",
        "canny:infra:Dns",
        "canny:infra:Alerts",
        "canny:infra:ResultsBucket",
        "canny:infra:OwnerKeys",
        "canny:infra:Deploy",
        "canny:infra:Deploy",
    ),
    "test-feature-x": (
        "canny:infra:Network",
        "canny:infra:Host",
        "canny:infra:Firewall",
        "canny:infra:Dns",
        "canny:infra:OwnerKeys",
        "canny:infra:Deploy",
    ),
}
ANYWHERE = ["0.0.0.0/0", "::/0"]

EXPECTED_COUNTS = {
    # Prod's defaults: two droplets behind the balancer, results in Spaces; each droplet's
    # deploy waits for cloud-init, stores the bucket's key, runs compose up and its gate.
    "prod": {
        DROPLET: 2,
        # the droplets' own firewall, and the balancer's web rule in a firewall of its own
        FIREWALL: 2,
        VOLUME: 0,
        RESERVED_IP: 0,
        DNS_RECORD: 1,
        # per droplet: wait for cloud-init, compose up, readiness gate, the bucket's key,
        # the owner-key secrets; the first droplet also writes the fleet Prometheus' targets
        # and Alertmanager's webhook (monitoring needs it)
        COMMAND: 12,
        LOAD_BALANCER: 1,
        CERTIFICATE: 1,
        UPTIME_CHECK: 1,
        BUCKET: 1,
        SPACES_KEY: 1,
        RANDOM_PASSWORD: 1,
    },
    "test": {
        DROPLET: 1,
        FIREWALL: 1,
        VOLUME: 0,
        RESERVED_IP: 0,
        DNS_RECORD: 2,
        # no monitoring on test stacks: no fleet Prometheus targets; the owner-key secrets
        COMMAND: 4,
        LOAD_BALANCER: 0,
        CERTIFICATE: 0,
        UPTIME_CHECK: 0,
        BUCKET: 0,
        SPACES_KEY: 0,
        RANDOM_PASSWORD: 1,
    },
}


@pytest.mark.parametrize("stack", ["prod", "test"])
def test_resource_counts_per_stack(run_stack, stack):
    run = run_stack(stack)
    counts = {type_token: len(run.by_type(type_token)) for type_token in EXPECTED_COUNTS[stack]}
    assert counts == EXPECTED_COUNTS[stack], f"{stack}: unexpected resource counts {counts}"


@pytest.mark.parametrize("stack", ["prod", "test-feature-x"])
def test_every_resource_sits_in_a_component_and_is_named_after_it(run_stack, stack):
    run = run_stack(stack)
    components = {item.urn: item for item in run.resources if item.type in COMPONENTS[stack]}
    assert sorted(item.type for item in components.values()) == sorted(COMPONENTS[stack])
    for item in run.resources:
        if item.type in COMPONENTS[stack]:
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
    """Without a load balancer (prod may opt out) the droplet itself serves the web ports."""
    run = run_stack("prod", adminCidrs=["198.18.0.7/32"], loadBalancer="false", dropletCount="1")
    rules = run.one(FIREWALL).inputs["inboundRules"]
    assert _inbound(run) == {
        "80": ANYWHERE,
        "443": ANYWHERE,
        "22": ["198.18.0.7/32"],
        "9090": [MOCK_VPC_RANGE],
    }
    assert len(rules) == 4, f"nothing else may be inbound, got {json.dumps(rules)}"
    droplet_ids = run.one(FIREWALL).inputs["dropletIds"]
    assert droplet_ids == [int(run.one(DROPLET).resource_id)], f"not on the droplet: {droplet_ids}"
    assert not run.one(FIREWALL).inputs.get("tags"), "tags would select other stacks' droplets"


def _selects(firewall, firewall_run: OfflineRun, droplet, droplet_run: OfflineRun) -> bool:
    """DigitalOcean applies a firewall to the droplets it names by id (ids are per account;
    the plans' ids are per run, so an id selects a droplet of the firewall's own stack) and
    to every droplet carrying one of its tags, in any stack (terraform-provider-digitalocean
    docs/resources/firewall.md)."""
    by_id = firewall_run is droplet_run and int(droplet.resource_id) in (
        firewall.inputs.get("dropletIds") or []
    )
    by_tag = set(firewall.inputs.get("tags") or []) & set(droplet.inputs.get("tags") or [])
    return by_id or bool(by_tag)


def test_only_prods_own_firewall_opens_ssh_on_the_prod_droplet(run_stack):
    """All firewalls selecting a droplet add up: every stack's plan in one account counts."""
    prod = run_stack("prod")
    review_config = read_stack_config(REPO_ROOT / "Pulumi.test.yaml").values
    runs = [
        prod,
        run_stack("test"),
        run_program("test-feature-x", review_config | stack_config("test-feature-x")),
    ]
    ssh_sources = set()
    for droplet in prod.by_type(DROPLET):
        for run in runs:
            for firewall in run.by_type(FIREWALL):
                if not _selects(firewall, run, droplet, prod):
                    continue
                for rule in firewall.inputs["inboundRules"]:
                    if rule["protocol"] == "tcp" and rule["portRange"] == "22":
                        ssh_sources |= set(rule["sourceAddresses"])
    (admin,) = (
        rule["sourceAddresses"]
        for rule in prod.named("canny-prod-firewall").inputs["inboundRules"]
        if rule["portRange"] == "22"
    )
    assert ssh_sources == set(admin) == set(stack_config("prod")["canny:adminCidrs"]), (
        f"SSH on prod is open to {ssh_sources}"
    )


def _remote_triggers(run: OfflineRun) -> dict[str, list]:
    return {
        item.name: run.provider_inputs[item.name].get("triggers")
        for item in run.resources
        if item.type.startswith("command:remote:")
    }


def test_a_replaced_droplet_gets_every_remote_step_again(run_stack, monkeypatch):
    """pulumi-command re-runs a step only when its triggers change: a new droplet must
    change every step's triggers (pulumi/pulumi-command provider/pkg/provider/remote)."""
    before = run_stack("test", runnerToken="glrt-Replace-Sentinel")
    render = infra.host.render_user_data
    monkeypatch.setattr(
        infra.host, "render_user_data", lambda inputs: render(inputs) + "# edited\n"
    )
    after = run_stack("test", runnerToken="glrt-Replace-Sentinel")
    assert before.one(DROPLET).resource_id != after.one(DROPLET).resource_id, "not replaced"
    old, new = _remote_triggers(before), _remote_triggers(after)
    assert set(old) == set(new) and len(old) >= 11, sorted(old)
    unchanged = sorted(name for name in old if old[name] == new[name])
    assert not unchanged, f"these steps would not run on the new droplet: {unchanged}"
    for name, triggers in new.items():
        assert after.one(DROPLET).resource_id in triggers, f"{name}: {triggers}"


def test_every_remote_step_pins_the_droplets_host_key(run_stack):
    run = run_stack("prod", runnerToken="glrt-Pin-Sentinel")
    steps = [item for item in run.resources if item.type.startswith("command:remote:")]
    # Every droplet copies the bundle and runs the named steps; the first one also writes
    # the fleet Prometheus' targets and Alertmanager's webhook. Counted from the program
    # (its droplets, its bundle), so a new bundled file or droplet needs no edit here. The
    # first droplet is named after the stack, a prefix of the others: it sorts first.
    hosts = sorted(item.name.removesuffix("-droplet") for item in run.by_type(DROPLET))
    assert len(hosts) >= 2, hosts
    names = {item.name for item in steps}
    expected = {f"{hosts[0]}-{step}" for step in FIRST_DROPLET_STEPS} | {
        f"{host}-{step}" for host in hosts for step in EVERY_DROPLET_STEPS
    }
    assert expected <= names, sorted(expected - names)
    copies = [item for item in steps if item.type == "command:remote:CopyToRemote"]
    assert len(copies) == len(hosts) * len(bundle_files()), [item.name for item in copies]
    assert len(steps) == len(expected) + len(copies), sorted(names - expected)
    for step in steps:
        connection = run.provider_inputs[step.name]["connection"]
        assert connection["hostKey"] == MOCK_HOST_PUBLIC_KEY.strip(), step.urn
    host_keys = run.by_type("tls:index/privateKey:PrivateKey")
    assert [key.inputs["algorithm"] for key in host_keys] == ["ED25519", "ED25519"]
    assert run.outputs["sshHostKey"] == MOCK_HOST_PUBLIC_KEY.strip()


@pytest.mark.parametrize(
    "type_token", [DROPLET, VOLUME, RESERVED_IP, DNS_RECORD], ids=lambda token: token.split(":")[-1]
)
def test_prod_protects_what_must_survive(run_stack, type_token):
    for item in run_stack("prod").by_type(type_token):
        assert item.protect, f"{item.urn} must be protected on prod"


def test_prod_droplet_ignores_user_data_drift_keeps_backups_and_volume(run_stack):
    run = run_stack("prod", **PROD_ON_A_VOLUME)
    droplet = run.one(DROPLET)
    assert droplet.ignore_changes == ("userData",), f"{droplet.urn}: {droplet.ignore_changes}"
    assert droplet.inputs["backups"] is True, f"{droplet.urn} must have backups on prod"
    volume = run.one(VOLUME)
    assert volume.retain_on_delete, f"{volume.urn} must be retained on delete"
    assert droplet.inputs["volumeIds"] == [volume.resource_id], "the results volume is attached"


def test_a_replacement_prod_droplet_gets_the_volume_and_the_address(run_stack):
    """A volume is attached to one droplet at a time and the provider detaches it when it
    deletes the droplet: the old droplet must go first (Pulumi's default creates the new one
    first). The reserved IP's assignment follows the droplet's id (ForceNew), so it moves."""
    run = run_stack("prod", loadBalancer="false", **PROD_ON_A_VOLUME)
    droplet = run.one(DROPLET)
    assert droplet.delete_before_replace, f"{droplet.urn} must be deleted before its replacement"
    assignment = run.one(RESERVED_IP_ASSIGNMENT)
    assert assignment.inputs["dropletId"] == int(droplet.resource_id)
    assert assignment.property_dependencies["dropletId"] == (droplet.urn,)
    assert assignment.delete_before_replace, "the address is released before it is reassigned"
    records = {item.inputs["type"]: item.inputs for item in run.by_type(DNS_RECORD)}
    assert set(records) == {"A"}, "no AAAA: the droplet's own IPv6 changes with a replacement"
    assert records["A"]["value"] == MOCK_RESERVED_IPV4


def test_prod_can_let_a_deliberate_replacement_boot_with_the_current_user_data(run_stack):
    droplets = run_stack("prod", prodFollowsUserData="true").by_type(DROPLET)
    assert len(droplets) == 2
    for droplet in droplets:
        assert droplet.ignore_changes == (), "the replacement would get the stored user data"
        assert droplet.protect and droplet.delete_before_replace


def test_test_droplets_are_replaced_the_default_way(run_stack):
    assert not run_stack("test").one(DROPLET).delete_before_replace


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
        ("prod", {}, "@", MOCK_LB_IPV4),
        ("prod", {"subdomain": "edges"}, "edges", MOCK_LB_IPV4),
        ("prod", {"loadBalancer": "false", "dropletCount": "1"}, "@", MOCK_RESERVED_IPV4),
        ("test", {}, "test.test", MOCK_IPV4),
        ("test-feature-x", {}, "test-feature-x.test", MOCK_IPV4),
    ],
)
def test_dns_records_name_and_address(run_stack, stack, overrides, name, ipv4):
    run = run_stack(stack, **overrides)
    records = {item.inputs["type"]: item.inputs for item in run.by_type(DNS_RECORD)}
    assert set(records) == ({"A"} if stack == "prod" else {"A", "AAAA"})
    assert {record["name"] for record in records.values()} == {name}
    assert records["A"]["domain"] == stack_config(stack)["canny:domain"]
    assert records["A"]["value"] == ipv4, f"A record points at {records['A']['value']}"


def test_deploy_runs_in_order_wait_copy_compose_gate(run_stack):
    """On the fleet's last droplet, whose gate only the uptime check waits for."""
    run = run_stack("prod")
    by_name = {item.name: item for item in run.resources}
    wait, compose_up, gate = (
        by_name["canny-prod-2-wait-cloud-init"],
        by_name["canny-prod-2-compose-up"],
        by_name["canny-prod-2-readiness-gate"],
    )
    copies = [item for item in run.by_type(COPY) if item.name.startswith("canny-prod-2-copy-")]
    assert copies, "the bundle must be copied"
    for copy in copies:
        assert wait.urn in copy.depends_on, f"{copy.urn} must wait for cloud-init"
        assert copy.urn in compose_up.depends_on, f"compose-up must come after {copy.urn}"
    assert compose_up.urn in gate.depends_on, "the readiness gate must come after compose-up"
    last = {item.name for item in run.resources if gate.urn in item.depends_on}
    assert last == {"canny-prod-uptime"}, f"the gate must be the last deploy step: {last}"


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
        "prod",
        imageTag="feedc0de",
        registryUser="bot",
        registryPassword="pw-Very-Secret-9",
        **PROD_ON_A_VOLUME,
    )
    compose_up = next(item for item in run.by_type(COMMAND) if item.name.endswith("compose-up"))
    create = compose_up.inputs["create"]
    assert create.endswith(
        f"bash {REMOTE_APP_DIR}/bin/deploy.sh registry.gitlab.com/example/canny-platform feedc0de"
    ), create
    assert "COMPOSE_PROFILES=monitoring" in create and "CANNY_RESULTS_MOUNT=" in create
    assert compose_up.inputs["stdin"] == "[secret]", "the registry login must be a secret stdin"
    received = run.provider_inputs[compose_up.name]["stdin"]
    assert received == "bot\npw-Very-Secret-9\n", "deploy.sh reads user, then password"


def test_the_release_digests_reach_the_deploy_command(run_stack):
    """canny:backendDigest / canny:gatewayDigest (ci.image_digests) become deploy.sh's
    BACKEND_DIGEST / GATEWAY_DIGEST, which pin the images in .env (app/compose.yaml)."""
    backend, gateway = "sha256:" + "a" * 64, "sha256:" + "c" * 64
    run = run_stack(
        "prod",
        imageTag="feedc0de",
        backendDigest=backend,
        gatewayDigest=gateway,
        **PROD_ON_A_VOLUME,
    )
    compose_up = next(item for item in run.by_type(COMMAND) if item.name.endswith("compose-up"))
    create = compose_up.inputs["create"]
    assert f"BACKEND_DIGEST={backend}" in create and f"GATEWAY_DIGEST={gateway}" in create, create


def test_half_a_digest_pair_is_refused(run_stack):
    with pytest.raises(ConfigError, match="set it together with canny:backendDigest"):
        run_stack("prod", gatewayDigest="sha256:" + "c" * 64, **PROD_ON_A_VOLUME)


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
    for droplet in run.by_type(DROPLET):
        assert droplet.inputs["userData"] == "[secret]", f"{droplet.urn} user_data must be secret"


@pytest.mark.parametrize(
    ("stack", "overrides", "url", "ip", "ssh_ip"),
    [
        ("prod", PROD_ON_A_VOLUME, "https://canny.example", MOCK_LB_IPV4, MOCK_IPV4),
        (
            "prod",
            {"loadBalancer": "false", **PROD_ON_A_VOLUME},
            "http://canny.example",
            *[MOCK_RESERVED_IPV4] * 2,
        ),
        ("test-feature-x", {}, "http://test-feature-x.test.example.com", MOCK_IPV4, MOCK_IPV4),
    ],
)
def test_stack_outputs(run_stack, stack, overrides, url, ip, ssh_ip):
    run = run_stack(stack, **overrides)
    assert run.outputs["url"] == url
    assert run.outputs["ip"] == ip
    assert run.outputs["dropletIds"] == [run.one(DROPLET).resource_id]
    assert run.outputs["imageTag"] == "0123abcd", "CI rolls prod back to this output"
    assert run.outputs["sshCommand"] == f"ssh deploy@{ssh_ip}"
    assert run.outputs["monitoringTunnel"] == f"ssh -N -L 9090:127.0.0.1:9091 deploy@{ssh_ip}"
    assert not run.secret_outputs, f"outputs must be plain and secret-free: {run.secret_outputs}"


def test_bad_config_stops_the_program_before_any_resource():
    monitor = RecordingMonitor(OfflineMocks())
    config = stack_config("prod", ephemeral="true", region="mars1")
    with pytest.raises(ConfigError, match="prod can never be ephemeral"):
        run_program("prod", config, monitor=monitor)
    assert monitor.planned == [], f"resources registered before the config check: {monitor.planned}"


def test_the_runner_is_registered_over_ssh_with_the_token_on_stdin(run_stack):
    token = "glrt-Register-Sentinel"
    run = run_stack("prod", runnerToken=token)
    by_name = {item.name: item for item in run.resources}
    step = by_name["canny-prod-register-runner"]
    assert step.inputs["create"] == (
        "sudo -n /usr/local/sbin/canny-register-runner https://gitlab.com canny-prod docker "
        "debian:bookworm-slim"
    )
    assert step.inputs["stdin"] == "[secret]"
    assert run.provider_inputs[step.name]["stdin"] == f"{token}\n"
    assert by_name["canny-prod-wait-cloud-init"].urn in step.depends_on
    assert token not in json.dumps([item.inputs for item in run.resources])


def test_without_a_token_no_runner_is_registered(run_stack):
    names = {item.name for item in run_stack("test").resources}
    assert "canny-test-register-runner" not in names


def test_the_cloud_init_wait_has_the_configured_time_limit(run_stack):
    run = run_stack("test", cloudInitTimeout="1200")
    wait = next(item for item in run.by_type(COMMAND) if item.name.endswith("wait-cloud-init"))
    assert wait.inputs["create"] == "CANNY_CLOUD_INIT_TIMEOUT=1200 bash -s"
