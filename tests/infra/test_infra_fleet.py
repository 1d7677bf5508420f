"""The fleet under mocks: load balancer, N droplets, their firewall, a rolling deploy, alerts."""

import json

import pytest

from infra.bundle import REMOTE_APP_DIR
from infra.deploy import unregister_runner_command
from infra.load_balancer import certificate_name
from infra.offline import MOCK_LB_IPV4, MOCK_VPC_RANGE, OfflineRun, mock_private_ipv4
from tests.infra.resource_types import (
    CERTIFICATE,
    COMMAND,
    DNS_RECORD,
    DROPLET,
    LOAD_BALANCER,
    MONITOR_ALERT,
    UPTIME_ALERT,
    UPTIME_CHECK,
    VOLUME,
    VPC,
)

FLEET = {"dropletCount": "3", "resultsStore": "spaces"}
SLACK = "https://hooks.slack.com/services/T000/B000/Slack-Sentinel-7"


def _by_name(run: OfflineRun) -> dict:
    return {item.name: item for item in run.resources}


def _droplet_ids(run: OfflineRun) -> list[int]:
    """In the program's order (registrations arrive in any order): canny-prod, -2, -3."""
    droplets = sorted(run.by_type(DROPLET), key=lambda item: (len(item.name), item.name))
    return [int(item.resource_id) for item in droplets]


def test_prod_is_served_over_https_by_a_load_balancer_in_its_vpc(run_stack):
    run = run_stack("prod", subdomain="edges")
    balancer, certificate = run.one(LOAD_BALANCER), run.one(CERTIFICATE)
    assert certificate.inputs["type"] == "lets_encrypt"
    assert certificate.inputs["domains"] == ["edges.canny.example"]
    assert balancer.inputs["vpcUuid"] == run.one(VPC).resource_id
    assert balancer.inputs["region"] == "fra1"
    rules = {rule["entryPort"]: rule for rule in balancer.inputs["forwardingRules"]}
    assert rules[443] == {
        "entryProtocol": "https",
        "entryPort": 443,
        "targetProtocol": "http",
        "targetPort": 80,
        "certificateName": certificate.inputs["name"],
    }
    assert balancer.inputs["redirectHttpToHttps"] is True
    assert balancer.inputs["disableLetsEncryptDnsRecords"] is True, "the stack owns its A record"
    health = balancer.inputs["healthcheck"]
    assert (health["protocol"], health["port"], health["path"]) == ("http", 80, "/healthz/upload")
    assert balancer.inputs["dropletIds"] == _droplet_ids(run)
    assert not balancer.inputs.get("dropletTag"), "a tag would pool other stacks' droplets"
    assert balancer.protect, "prod's balancer holds the address DNS points at"


def test_a_new_hostname_gets_a_certificate_of_a_new_name():
    """Names are unique per account: create-before-delete needs the new one named apart."""
    assert certificate_name("canny-prod", "a.example.com") != certificate_name(
        "canny-prod", "b.example.com"
    )
    assert certificate_name("canny-prod", "a.example.com") == certificate_name(
        "canny-prod", "a.example.com"
    )


def test_dns_points_at_the_load_balancer_with_no_aaaa(run_stack):
    for run in (run_stack("prod"), run_stack("test-feature-x", loadBalancer="true")):
        records = run.by_type(DNS_RECORD)
        assert [record.inputs["type"] for record in records] == ["A"], "no AAAA to a droplet"
        assert records[0].inputs["value"] == MOCK_LB_IPV4
        assert run.outputs["url"].startswith("https://")
        assert run.outputs["ip"] == MOCK_LB_IPV4


def test_review_stacks_skip_the_load_balancer_by_default(run_stack):
    run = run_stack("test-feature-x")
    assert not run.by_type(LOAD_BALANCER) and not run.by_type(CERTIFICATE)
    assert run.outputs["url"] == "http://test-feature-x.test.example.com"


def test_behind_the_balancer_port_80_admits_only_it_and_ssh_only_admins(run_stack):
    run = run_stack("prod", adminCidrs=["198.18.0.7/32"], **FLEET)
    firewall, web = run.named("canny-prod-firewall"), run.named("canny-prod-lb-firewall")
    assert web.inputs["inboundRules"] == [
        {
            "protocol": "tcp",
            "portRange": "80",
            "sourceLoadBalancerUids": [run.one(LOAD_BALANCER).resource_id],
        },
    ]
    assert firewall.inputs["inboundRules"] == [
        {"protocol": "tcp", "portRange": "22", "sourceAddresses": ["198.18.0.7/32"]},
        {"protocol": "tcp", "portRange": "9090", "sourceAddresses": [MOCK_VPC_RANGE]},
    ]
    for each in (firewall, web):
        assert each.inputs["dropletIds"] == _droplet_ids(run), f"{each.urn}: every droplet"
        assert not each.inputs.get("tags")


def test_n_droplets_each_with_its_own_deploy(run_stack):
    run = run_stack("prod", **FLEET)
    by_name = _by_name(run)
    prefixes = ("canny-prod", "canny-prod-2", "canny-prod-3")
    droplets = [by_name[f"{prefix}-droplet"] for prefix in prefixes]
    assert len(run.by_type(DROPLET)) == 3
    assert len(set(_droplet_ids(run))) == 3
    assert not run.by_type(VOLUME), "results are in Spaces: no droplet-bound volume"
    assert run.outputs["dropletIds"] == [item.resource_id for item in droplets]
    for prefix, droplet in zip(prefixes, droplets, strict=True):
        for step in ("wait-cloud-init", "compose-up", "readiness-gate"):
            name = f"{prefix}-{step}"
            assert name in by_name, f"{name} missing"
            triggers = run.provider_inputs[name]["triggers"]
            assert droplet.resource_id in triggers, f"{name} does not follow {droplet.name}"
            connection = run.provider_inputs[name]["connection"]
            assert connection["host"] == "203.0.113.10", connection


def test_the_deploy_rolls_one_droplet_at_a_time(run_stack):
    """Droplet k's compose up waits for droplet k-1's readiness gate, so a failing gate stops
    the roll and the later droplets keep their release (the engine skips dependents)."""
    run = run_stack("prod", **FLEET)
    by_name = _by_name(run)
    prefixes = ("canny-prod", "canny-prod-2", "canny-prod-3")
    gates = [by_name[f"{prefix}-readiness-gate"].urn for prefix in prefixes]
    for index, prefix in enumerate(prefixes):
        compose_up = by_name[f"{prefix}-compose-up"]
        needs = run.upstream(compose_up.urn)
        assert set(gates[:index]) <= needs, f"{compose_up.name} may start before earlier gates"
        assert not set(gates[index:]) & needs, f"{compose_up.name} waits for a later droplet"
        if index:
            assert gates[index - 1] in compose_up.depends_on


def test_a_single_droplet_waits_for_no_other(run_stack):
    run = run_stack("test")
    compose_up = next(item for item in run.by_type(COMMAND) if item.name.endswith("compose-up"))
    gates = {item.urn for item in run.by_type(COMMAND) if item.name.endswith("readiness-gate")}
    assert not gates & run.upstream(compose_up.urn)


@pytest.mark.parametrize(
    ("stack", "overrides", "proxies"),
    [("prod", {}, MOCK_VPC_RANGE), ("test", {}, "")],
)
def test_behind_the_balancer_the_gateway_trusts_the_vpc(run_stack, stack, overrides, proxies):
    """The balancer reaches droplets from its private VPC address, so the gateway believes
    X-Forwarded-For from the VPC's range only, and from nobody without a balancer."""
    run = run_stack(stack, **overrides)
    for compose_up in (item for item in run.by_type(COMMAND) if item.name.endswith("compose-up")):
        create = compose_up.inputs["create"]
        expected = f"CANNY_TRUSTED_PROXIES={proxies} " if proxies else "CANNY_TRUSTED_PROXIES='' "
        assert expected in create, create


def test_uptime_check_and_alerts_go_to_the_configured_people(run_stack):
    team = ["ops@canny.example", "oncall@canny.example"]
    # E-mail only (no Slack, so no Alertmanager: monitoring would need its webhook).
    run = run_stack("prod", alertEmails=team, slackWebhookUrl=None, monitoring="false", **FLEET)
    check = run.one(UPTIME_CHECK)
    assert check.inputs["target"] == "https://canny.example"
    assert check.inputs["type"] == "https"
    alerts = run.by_type(UPTIME_ALERT)
    assert sorted(alert.inputs["type"] for alert in alerts) == ["down", "latency", "ssl_expiry"]
    for alert in alerts:
        assert alert.property_dependencies["checkId"] == (check.urn,)
        assert alert.inputs["notifications"] == [{"emails": team}]
    metrics = run.by_type(MONITOR_ALERT)
    assert sorted(alert.inputs["type"] for alert in metrics) == [
        "v1/insights/droplet/cpu",
        "v1/insights/droplet/disk_utilization_percent",
        "v1/insights/droplet/memory_utilization_percent",
    ]
    droplet_ids = [str(item) for item in _droplet_ids(run)]
    for alert in metrics:
        assert alert.inputs["entities"] == droplet_ids, "every droplet, by id"
        assert not alert.inputs.get("tags"), "tags would watch other stacks' droplets"
        assert alert.inputs["alerts"]["emails"] == team


def test_the_slack_webhook_is_a_secret_for_do_alerts_and_the_one_alertmanager(run_stack):
    run = run_stack("prod", slackWebhookUrl=SLACK, **FLEET)
    recorded = json.dumps([item.inputs for item in run.resources]) + json.dumps(run.outputs)
    assert "Slack-Sentinel-7" not in recorded, "the webhook URL leaked into plain inputs"
    down = next(item for item in run.by_type(UPTIME_ALERT) if item.inputs["type"] == "down")
    assert run.provider_inputs[down.name]["notifications"][0]["slacks"][0]["url"] == SLACK
    by_name = _by_name(run)
    step = by_name["canny-prod-alertmanager-secret"]
    assert step.inputs["create"] == f"bash {REMOTE_APP_DIR}/bin/write_alertmanager_secret.sh"
    assert step.inputs["stdin"] == "[secret]"
    assert run.provider_inputs[step.name]["stdin"] == f"{SLACK}\n"
    assert step.urn in by_name["canny-prod-compose-up"].depends_on
    for prefix in ("canny-prod-2", "canny-prod-3"):
        assert f"{prefix}-alertmanager-secret" not in by_name, "only the first droplet alerts"


@pytest.mark.parametrize(
    "overrides",
    [
        {"slackWebhookUrl": None, "monitoring": "false"},
        {"slackWebhookUrl": SLACK, "monitoring": "false"},
    ],
)
def test_no_alertmanager_secret_step_without_a_webhook_or_alertmanager(run_stack, overrides):
    names = [item.name for item in run_stack("prod", **overrides).by_type(COMMAND)]
    assert not [name for name in names if name.endswith("alertmanager-secret")], names


def test_review_stacks_have_no_uptime_check_unless_asked(run_stack):
    assert not run_stack("test").by_type(UPTIME_CHECK)
    run = run_stack("test", alertEmails=["dev@example.com"])
    check = run.one(UPTIME_CHECK)
    assert check.inputs["target"] == "http://test.test.example.com"
    assert check.inputs["type"] == "http"
    kinds = sorted(alert.inputs["type"] for alert in run.by_type(UPTIME_ALERT))
    assert kinds == ["down", "latency"], "no certificate to watch over plain HTTP"


def test_the_first_droplet_federates_every_droplet_over_the_vpc(run_stack):
    """One fleet Prometheus (profile `monitor`) on the first droplet, its file_sd targets
    the droplets' private addresses from the stack; every droplet's Prometheus is published
    on its own private address, and the firewall opens that port to the VPC only."""
    run = run_stack("prod", dropletCount="2", resultsStore="spaces")
    by_name = _by_name(run)
    droplets = [by_name["canny-prod-droplet"], by_name["canny-prod-2-droplet"]]
    targets = by_name["canny-prod-fleet-targets"]
    assert targets.inputs["create"] == f"bash {REMOTE_APP_DIR}/bin/write_fleet_targets.sh"
    assert json.loads(targets.inputs["stdin"]) == [
        {"targets": [f"{mock_private_ipv4(droplet.name)}:9090"], "labels": {"droplet": prefix}}
        for droplet, prefix in zip(droplets, ("canny-prod", "canny-prod-2"), strict=True)
    ]
    assert mock_private_ipv4(droplets[0].name) != mock_private_ipv4(droplets[1].name)
    assert droplets[0].resource_id in run.provider_inputs[targets.name]["triggers"]
    assert targets.urn in by_name["canny-prod-compose-up"].depends_on
    assert "canny-prod-2-fleet-targets" not in by_name, "one fleet Prometheus per stack"
    for droplet, prefix, profiles in (
        (droplets[0], "canny-prod", "monitoring,monitor"),
        (droplets[1], "canny-prod-2", "monitoring"),
    ):
        create = by_name[f"{prefix}-compose-up"].inputs["create"]
        assert f"COMPOSE_PROFILES={profiles} " in create, create
        assert f"METRICS_BIND={mock_private_ipv4(droplet.name)} " in create, create
    metrics = [
        rule
        for rule in run.named("canny-prod-firewall").inputs["inboundRules"]
        if rule["portRange"] == "9090"
    ]
    assert metrics == [
        {"protocol": "tcp", "portRange": "9090", "sourceAddresses": [MOCK_VPC_RANGE]}
    ]
    assert run.outputs["monitoringTunnel"] == "ssh -N -L 9090:127.0.0.1:9091 deploy@203.0.113.10"


def test_without_monitoring_no_metrics_port_and_no_fleet_prometheus(run_stack):
    run = run_stack("prod", dropletCount="2", resultsStore="spaces", monitoring="false")
    inbound = run.named("canny-prod-firewall").inputs["inboundRules"]
    assert not [rule for rule in inbound if rule["portRange"] == "9090"]
    names = [item.name for item in run.by_type(COMMAND)]
    assert not [name for name in names if name.endswith("fleet-targets")], names
    for compose_up in (item for item in run.by_type(COMMAND) if item.name.endswith("compose-up")):
        assert "METRICS_BIND='' " in compose_up.inputs["create"]


@pytest.mark.parametrize(
    ("stack", "overrides"), [("prod", FLEET), ("test", {"alertEmails": ["ops@example.com"]})]
)
def test_the_uptime_check_comes_after_the_last_droplets_gate(run_stack, stack, overrides):
    """A first `pulumi up` creates the check only once the rollout passed every gate, so it
    reports no outage while the droplets are still coming up (issue 24)."""
    run = run_stack(stack, **overrides)
    gates = [item for item in run.by_type(COMMAND) if item.name.endswith("readiness-gate")]
    last = max(gates, key=lambda item: (len(item.name), item.name))
    needs = run.upstream(run.one(UPTIME_CHECK).urn)
    assert last.urn in needs, "the uptime check may be created before the last gate"
    assert {gate.urn for gate in gates} <= needs


def test_each_gate_waits_until_the_balancer_counts_its_droplet_healthy(run_stack):
    """Before the next droplet restarts, the balancer must have put this one back in rotation:
    healthy_threshold passing checks, check_interval_seconds apart, the last one taking up
    to a response timeout. The wait comes from the balancer's own health check settings."""
    run = run_stack("prod", **FLEET)
    health = run.one(LOAD_BALANCER).inputs["healthcheck"]
    # The mocks hand numbers back as floats.
    rejoin = int(
        health["healthyThreshold"] * health["checkIntervalSeconds"]
        + health["responseTimeoutSeconds"]
    )
    gates = [item for item in run.by_type(COMMAND) if item.name.endswith("readiness-gate")]
    assert len(gates) == 3
    for gate in gates:
        assert gate.inputs["create"] == (
            f"CANNY_GATE_REJOIN_SECONDS={rejoin} bash {REMOTE_APP_DIR}/bin/gate.sh"
        )


def test_without_a_balancer_the_gate_waits_for_nothing_more(run_stack):
    run = run_stack("test")
    (gate,) = [item for item in run.by_type(COMMAND) if item.name.endswith("readiness-gate")]
    assert gate.inputs["create"] == f"bash {REMOTE_APP_DIR}/bin/gate.sh"


def test_steps_that_leave_something_on_the_droplet_undo_it_on_delete(run_stack):
    """`pulumi destroy` (or a replacement) runs each step's delete over SSH: the runner is
    unregistered, the secret, the targets and the .env keys each step wrote are removed.
    They are deleted before their replacement is created, or the old step's delete would
    remove what the new one had just written."""
    run = run_stack("prod", runnerToken="glrt-Delete-Sentinel", slackWebhookUrl=SLACK, **FLEET)
    by_name = _by_name(run)
    scripts = f"{REMOTE_APP_DIR}/bin"
    expected = {
        "canny-prod-register-runner": unregister_runner_command("canny-prod"),
        "canny-prod-alertmanager-secret": f"bash {scripts}/write_alertmanager_secret.sh --forget",
        "canny-prod-fleet-targets": f"bash {scripts}/write_fleet_targets.sh --forget",
        "canny-prod-storage-credentials": f"bash {scripts}/storage_credentials.sh --forget",
        "canny-prod-2-register-runner": unregister_runner_command("canny-prod-2"),
        "canny-prod-2-storage-credentials": f"bash {scripts}/storage_credentials.sh --forget",
    }
    for name, delete in expected.items():
        step = by_name[name]
        assert step.inputs["delete"] == delete, name
        assert step.delete_before_replace, f"{name} would delete after its replacement"
