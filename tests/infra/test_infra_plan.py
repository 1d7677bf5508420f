"""`python -m infra.plan`: the offline plan printed from the real program and stack files."""

import json
import subprocess
import sys

import pytest

from infra.offline import REPO_ROOT
from infra.plan import main

PROD_TYPES = {
    "canny:infra:Network",
    "canny:infra:Host",
    "canny:infra:Dns",
    "canny:infra:Deploy",
    "digitalocean:index/project:Project",
    "digitalocean:index/vpc:Vpc",
    "digitalocean:index/droplet:Droplet",
    "digitalocean:index/firewall:Firewall",
    "digitalocean:index/volume:Volume",
    "digitalocean:index/reservedIp:ReservedIp",
    "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
    "digitalocean:index/projectResources:ProjectResources",
    "digitalocean:index/dnsRecord:DnsRecord",
    "command:remote:Command",
    "command:remote:CopyToRemote",
    "tls:index/privateKey:PrivateKey",
    "canny:infra:ResultsBucket",
    "digitalocean:index/spacesBucket:SpacesBucket",
    "digitalocean:index/spacesKey:SpacesKey",
}


def plan_entries(capsys, *args: str) -> list[dict]:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("stack", "protected"), [("prod", 5), ("test", 0)])
def test_json_plan_lists_typed_resources_with_parents_and_protection(capsys, stack, protected):
    entries = plan_entries(capsys, "--stack", stack)
    for entry in entries:
        assert set(entry) == {"type", "name", "parent", "protect", "inputs"}, entry
    types = {entry["type"] for entry in entries}
    expected = (
        PROD_TYPES
        if stack == "prod"
        else PROD_TYPES
        - {
            "digitalocean:index/volume:Volume",
            "digitalocean:index/reservedIp:ReservedIp",
            "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
            # test stacks keep results on the droplet unless canny:resultsStore says spaces
            "canny:infra:ResultsBucket",
            "digitalocean:index/spacesBucket:SpacesBucket",
            "digitalocean:index/spacesKey:SpacesKey",
        }
    )
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
    assert header.startswith("stack prod: 31 resources to create (config Pulumi.prod.yaml;")
    lines = table.splitlines()
    assert lines[0].split() == ["TYPE", "NAME", "PARENT", "PROTECT", "INPUTS"]
    droplet = next(line for line in lines if line.startswith("digitalocean:Droplet"))
    assert droplet.split()[1:4] == ["canny-prod-droplet", "canny-prod", "yes"], droplet
    assert "  url = http://example.com" in out and "  sshCommand = ssh deploy@" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "staging"], "cannot read stack file"),
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
