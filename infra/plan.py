"""Offline plan: what `pulumi up` would create for a stack, without credentials or the CLI.

    python -m infra.plan --stack test|prod|test-<slug> [--json] [--config-file FILE]

The real program (infra/__main__.py) runs under mocks (infra/offline.py) with the stack file;
values that never live in a stack file (the image tag CI sets, the secrets), and on prod the
placeholders it refuses and the alert receiver monitoring needs, get clearly named
stand-ins, listed in the output. Secret inputs print as "[secret]".
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.bundle import BundleError
from infra.component_config import is_documentation_network, is_placeholder_domain
from infra.config import PROD_STACK, ConfigError
from infra.offline import OfflineRun, PlannedResource, run_program
from infra.stack_file import StackFileError, default_config_file, read_stack_config

# Stand-ins for what is set per deploy or as a secret, never in Pulumi.<stack>.yaml.
REQUIRED_STAND_INS = {
    "canny:imageTag": "offline-plan",
    "canny:sshPrivateKey": "offline-plan-private-key",
}
SECURE_STAND_INS = {
    "canny:runnerToken": "glrt-offline-plan",
    "canny:registryUser": "offline-plan-user",
    "canny:registryPassword": "offline-plan-password",
    "canny:slackWebhookUrl": "https://hooks.slack.invalid/offline-plan",
}
# Prod refuses the example values its stack file ships with (infra/component_config.py);
# offline, prod's plan shows these in their place (a reserved name, a benchmarking range that
# is no documentation range: RFC 2606, RFC 2544) and lists them among the stand-ins.
PLACEHOLDER_STAND_INS: dict[str, Any] = {
    "canny:domain": "canny.example",
    "canny:adminCidrs": ["198.18.0.0/15"],
    "canny:alertEmails": ["alerts@canny.example"],
}
# Monitoring needs Alertmanager's receiver (infra/config.py), a secret prod's file only names.
RECEIVER_KEY = "canny:slackWebhookUrl"
_DETAIL_WIDTH = 72
# The order infra/__main__.py builds them in; registrations themselves arrive in any order.
COMPONENT_ORDER = (
    "canny:infra:Network",
    "canny:infra:Host",
    "canny:infra:LoadBalancer",
    "canny:infra:Firewall",
    "canny:infra:Dns",
    "canny:infra:Alerts",
    "canny:infra:ResultsBucket",
    "canny:infra:OwnerKeys",
    "canny:infra:Deploy",
)


def plan_config(stack_config: dict[str, Any], secure_keys: frozenset[str]) -> tuple[dict, list]:
    """The config the program sees offline, and the keys given stand-in values."""
    config = dict(stack_config)
    stand_ins = []
    for key, value in REQUIRED_STAND_INS.items():
        if key not in config:
            config[key] = value
            stand_ins.append(key)
    for key in sorted(secure_keys):
        if key in SECURE_STAND_INS or key in REQUIRED_STAND_INS:
            config[key] = SECURE_STAND_INS.get(key) or REQUIRED_STAND_INS[key]
            stand_ins.append(key)
    return config, stand_ins


def _documentation_cidr(cidr: str) -> bool:
    """A value that is no CIDR is the config check's to report, not a placeholder."""
    try:
        return is_documentation_network(ipaddress.ip_network(cidr, strict=False))
    except ValueError:
        return False


def _is_placeholder(key: str, value: Any) -> bool:
    if key == "canny:domain":
        return isinstance(value, str) and is_placeholder_domain(value)
    if not isinstance(value, list):
        return False
    if key == "canny:adminCidrs":
        return any(_documentation_cidr(str(cidr)) for cidr in value)
    return any(is_placeholder_domain(str(email).rpartition("@")[2]) for email in value)


def prod_stand_ins(stack: str, config: dict[str, Any]) -> tuple[dict, list]:
    """Prod's config with stand-ins for the placeholders it would refuse and for a missing
    alert receiver, and the keys given one."""
    if stack != PROD_STACK:
        return dict(config), []
    replaced = {
        key: PLACEHOLDER_STAND_INS[key]
        for key in PLACEHOLDER_STAND_INS
        if key in config and _is_placeholder(key, config[key])
    }
    if RECEIVER_KEY not in config and str(config.get("canny:monitoring", "true")) != "false":
        replaced[RECEIVER_KEY] = SECURE_STAND_INS[RECEIVER_KEY]
    return config | replaced, list(replaced)


def _short_type(type_token: str) -> str:
    """digitalocean:index/droplet:Droplet -> digitalocean:Droplet (the table is for humans)."""
    package, _, rest = type_token.partition(":")
    return f"{package}:{rest.rsplit(':', 1)[-1]}" if "/" in rest else type_token


def _dependency_levels(run: OfflineRun) -> dict[str, int]:
    """0 for a resource that needs nothing, else one more than its deepest dependency."""
    depends = {item.urn: item.depends_on for item in run.resources}
    levels: dict[str, int] = {}

    def level(urn: str) -> int:
        if urn not in levels:
            levels[urn] = 0
            levels[urn] = 1 + max((level(dep) for dep in depends.get(urn, ())), default=-1)
        return levels[urn]

    for urn in depends:
        level(urn)
    return levels


def ordered(run: OfflineRun) -> list[PlannedResource]:
    """Components in build order, each followed by its children in dependency order."""
    levels = _dependency_levels(run)
    components = sorted(
        (item for item in run.resources if item.parent is None or not item.custom),
        key=lambda item: (
            COMPONENT_ORDER.index(item.type)
            if item.type in COMPONENT_ORDER
            else len(COMPONENT_ORDER),
            item.name,
        ),
    )
    result = []
    for component in components:
        result.append(component)
        children = [item for item in run.resources if item.parent == component.urn and item.custom]
        result += sorted(children, key=lambda item: (levels[item.urn], item.type, item.name))
    return result


def _flat(item: Any) -> bool:
    return isinstance(item, dict) and all(isinstance(v, str | int) for v in item.values())


def _shown_value(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str | int) for item in value):
        return ",".join(map(str, value))
    # Lists of flat records, such as a Spaces key's grants: what a reviewer must see.
    if isinstance(value, list) and value and all(_flat(item) for item in value):
        return ",".join(":".join(str(v) for _, v in sorted(item.items())) for item in value)
    if isinstance(value, str) and "\n" in value:
        return f"<{value.count(chr(10))} lines>"
    if isinstance(value, str | int | bool):
        return str(value)
    return None


def _details(inputs: dict[str, Any]) -> str:
    shown = []
    for key in sorted(inputs):
        value = _shown_value(inputs[key])
        if value is not None and key != "triggers":
            shown.append(f"{key}={value}")
    text = " ".join(shown)
    return text if len(text) <= _DETAIL_WIDTH else text[: _DETAIL_WIDTH - 3] + "..."


def format_table(run: OfflineRun, config_file: Path, stand_ins: Sequence[str]) -> str:
    names = run.names_by_urn()
    rows = [("TYPE", "NAME", "PARENT", "PROTECT", "INPUTS")]
    for item in ordered(run):
        rows.append(
            (
                _short_type(item.type),
                item.name,
                names.get(item.parent or "", "-"),
                "yes" if item.protect else "no",
                _details(item.inputs),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        f"stack {run.stack}: {len(run.resources)} resources to create "
        f"(config {config_file.name}; offline stand-ins: {', '.join(stand_ins) or 'none'})",
        "",
    ]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    lines += ["", "outputs:"]
    for name, value in run.outputs.items():
        lines.append(f"  {name} = {'[secret]' if name in run.secret_outputs else value}")
    return "\n".join(lines)


def plan_json(run: OfflineRun) -> str:
    names = run.names_by_urn()
    return json.dumps([item.plan_entry(names) for item in ordered(run)], indent=2)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.plan", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stack", required=True, help="prod, test or test-<slug>")
    parser.add_argument("--json", action="store_true", help="print the resources as JSON")
    parser.add_argument(
        "--config-file",
        type=Path,
        help="stack file (default: Pulumi.<stack>.yaml; review stacks use Pulumi.test.yaml)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        config_file = args.config_file or default_config_file(args.stack)
        stack_config = read_stack_config(config_file)
        config, stand_ins = plan_config(stack_config.values, stack_config.secure_keys)
        config, for_prod = prod_stand_ins(args.stack, config)
        stand_ins += for_prod
        run = run_program(args.stack, config)
    except (ConfigError, StackFileError, BundleError) as error:
        print(f"plan failed: {error}", file=sys.stderr)
        return 2
    print(plan_json(run) if args.json else format_table(run, config_file, stand_ins))
    return 0


if __name__ == "__main__":
    sys.exit(main())
