"""`python -m infra.plan`: the offline plan printed from the real program and stack files."""

import json
import subprocess
import sys

import pytest

from infra.offline import MOCK_SPACES_SECRET_KEY, REPO_ROOT
from infra.plan import REQUIRED_STAND_INS, main

# What a review stack leaves out: prod's Spaces bucket, load balancer and alerts.
PROD_ONLY_TYPES = {
    "canny:infra:ResultsBucket",
    "digitalocean:index/spacesBucket:SpacesBucket",
    "digitalocean:index/spacesKey:SpacesKey",
    "canny:infra:LoadBalancer",
    "canny:infra:Alerts",
    "digitalocean:index/loadBalancer:LoadBalancer",
    "digitalocean:index/certificate:Certificate",
    "digitalocean:index/uptimeCheck:UptimeCheck",
    "digitalocean:index/uptimeAlert:UptimeAlert",
    "digitalocean:index/monitorAlert:MonitorAlert",
}
PROD_TYPES = PROD_ONLY_TYPES | {
    "canny:infra:Network",
    "canny:infra:Host",
    "canny:infra:Dns",
    "canny:infra:Deploy",
    "digitalocean:index/project:Project",
    "digitalocean:index/vpc:Vpc",
    "digitalocean:index/droplet:Droplet",
    "digitalocean:index/firewall:Firewall",
    "digitalocean:index/projectResources:ProjectResources",
    "digitalocean:index/dnsRecord:DnsRecord",
    "command:remote:Command",
    "command:remote:CopyToRemote",
    "tls:index/privateKey:PrivateKey",
    "canny:infra:Firewall",
    "canny:infra:OwnerKeys",
    "random:index/randomPassword:RandomPassword",
}


def plan_entries(capsys, *args: str) -> list[dict]:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# Prod: its two droplets and their host keys, the load balancer, the A record, the results
# bucket and the owner-key secret.
@pytest.mark.parametrize(("stack", "protected"), [("prod", 8), ("test", 0)])
def test_json_plan_lists_typed_resources_with_parents_and_protection(capsys, stack, protected):
    entries = plan_entries(capsys, "--stack", stack)
    for entry in entries:
        assert set(entry) == {"type", "name", "parent", "protect", "inputs"}, entry
    types = {entry["type"] for entry in entries}
    expected = PROD_TYPES if stack == "prod" else PROD_TYPES - PROD_ONLY_TYPES
    assert types == expected, f"{stack}: unexpected types {types ^ expected}"
    names = {entry["name"] for entry in entries}
    assert all(entry["parent"] in names | {None} for entry in entries)
    assert sum(entry["protect"] for entry in entries) == protected


def test_json_plan_shows_secrets_only_as_marker(capsys):
    entries = plan_entries(capsys, "--stack", "prod")
    droplet = next(e for e in entries if e["type"] == "digitalocean:index/droplet:Droplet")
    assert droplet["inputs"]["userData"] == "[secret]"
    text = json.dumps(entries)
    assert "offline-plan-private-key" not in text, "the SSH key stand-in leaked into the plan"
    assert "offline-plan-host-key" not in text, "the droplet's private host key leaked"


def test_review_stack_plan_uses_the_given_config_file(capsys):
    entries = plan_entries(
        capsys, "--stack", "test-my-branch", "--config-file", str(REPO_ROOT / "Pulumi.test.yaml")
    )
    records = [e for e in entries if e["type"] == "digitalocean:index/dnsRecord:DnsRecord"]
    assert {r["inputs"]["name"] for r in records} == {"test-my-branch.test"}


def test_secure_values_in_a_stack_file_get_stand_ins(capsys, tmp_path):
    stack_file = tmp_path / "Pulumi.test.yaml"
    stack_file.write_text(
        (REPO_ROOT / "Pulumi.test.yaml").read_text(encoding="utf-8")
        + "  canny:runnerToken:\n    secure: AAABAOpaqueCiphertext==\n",
        encoding="utf-8",
    )
    assert main(["--stack", "test", "--config-file", str(stack_file)]) == 0
    out = capsys.readouterr().out
    assert "offline stand-ins: canny:imageTag, canny:sshPrivateKey, canny:runnerToken" in out
    assert "glrt-offline-plan" not in out and "AAABAOpaque" not in out
    assert "offline-plan-host-key" not in out, "the droplet's private host key leaked"


def test_table_for_prod_is_readable_and_lists_outputs(capsys):
    assert main(["--stack", "prod"]) == 0
    out = capsys.readouterr().out
    header, _, table = out.partition("\n\n")
    lines = table.split("\n\noutputs:")[0].splitlines()
    # The header counts the table's rows (one per resource the program registers).
    count = len(lines) - 1
    assert count > 0
    assert header.startswith(f"stack prod: {count} resources to create (config Pulumi.prod.yaml;")
    # The stack file's placeholders, which prod refuses, and the alert receiver monitoring
    # needs are shown as offline stand-ins.
    assert "canny:domain, canny:adminCidrs, canny:alertEmails, canny:slackWebhookUrl" in header
    assert lines[0].split() == ["TYPE", "NAME", "PARENT", "PROTECT", "INPUTS"]
    droplets = [line.split()[1:4] for line in lines if line.startswith("digitalocean:Droplet")]
    assert droplets == [
        ["canny-prod-droplet", "canny-prod", "yes"],
        ["canny-prod-2-droplet", "canny-prod-2", "yes"],
    ], droplets
    assert "  url = https://canny.example" in out and "  sshCommand = ssh deploy@" in out
    listed = {tuple(line.split()[:2]) for line in lines[1:] if line.strip()}
    for entry in [
        ("digitalocean:LoadBalancer", "canny-prod-lb"),
        ("digitalocean:Certificate", "canny-prod-certificate"),
        ("digitalocean:Firewall", "canny-prod-firewall"),
        ("digitalocean:UptimeCheck", "canny-prod-uptime"),
        ("digitalocean:SpacesBucket", "canny-prod-results-bucket"),
        ("digitalocean:SpacesKey", "canny-prod-results-key"),
    ]:
        assert entry in listed, f"the prod plan must list {entry}"
    for secret in (REQUIRED_STAND_INS["canny:sshPrivateKey"], MOCK_SPACES_SECRET_KEY):
        assert secret not in out, f"{secret} printed in the plan"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "staging"], "stack 'staging' is not 'prod', 'test' or test-<branch slug>"),
        (["--stack", "prod", "--config-file", "Pulumi.test.yaml"], "prod can never be ephemeral"),
    ],
)
def test_plan_errors_are_one_clear_line_and_exit_2(capsys, monkeypatch, args, message):
    monkeypatch.chdir(REPO_ROOT)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("plan failed:") and message in err, err


def test_runs_as_a_module_from_the_repository_root_without_credentials():
    result = subprocess.run(
        [sys.executable, "-m", "infra.plan", "--stack", "test", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout), "the plan must list resources"
    assert "DeprecationWarning" not in result.stderr, result.stderr


def test_prod_plan_lists_every_droplet_of_a_fleet_behind_the_balancer(capsys, tmp_path):
    stack_file = tmp_path / "Pulumi.prod.yaml"
    text = (REPO_ROOT / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    stack_file.write_text(text + "  canny:dropletCount: 3\n", encoding="utf-8")
    entries = plan_entries(capsys, "--stack", "prod", "--config-file", str(stack_file))
    names = {entry["type"]: [] for entry in entries}
    for entry in entries:
        names[entry["type"]].append(entry["name"])
    assert sorted(names["digitalocean:index/droplet:Droplet"]) == [
        "canny-prod-2-droplet",
        "canny-prod-3-droplet",
        "canny-prod-droplet",
    ]
    for type_token in (
        "digitalocean:index/loadBalancer:LoadBalancer",
        "digitalocean:index/certificate:Certificate",
        "digitalocean:index/uptimeCheck:UptimeCheck",
    ):
        assert len(names[type_token]) == 1, f"{type_token}: {names.get(type_token)}"
    assert sorted(names["digitalocean:index/firewall:Firewall"]) == [
        "canny-prod-firewall",
        "canny-prod-lb-firewall",
    ]
    balancer = next(entry for entry in entries if entry["name"] == "canny-prod-lb")
    assert len(balancer["inputs"]["dropletIds"]) == 3
