"""infra/ uses only Pulumi's public Python API, so an SDK upgrade cannot break it silently.

Public means: exported in the `__all__` of `pulumi` or `pulumi.runtime` (the submodules that
list names there, such as `rpc`, are public too, minus their `_private` names), or a type the
signature of such an export names (`set_mocks(monitor: MockMonitor)`). Everything else, such
as `pulumi.runtime.sync_await._sync_await`, `pulumi.runtime.stack.run_pulumi_func` or
`pulumi.runtime.config.CONFIG`, is an implementation detail.
"""

import ast
import importlib
import inspect
import typing
from pathlib import Path

import pulumi
import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"
EXPORTING_PACKAGES = ("pulumi", "pulumi.runtime")
# The one allowed exception: the rehearsal's `pulumi` plays the CLI's side of the Automation
# API's Events service, so it uses the stubs generated from that wire protocol
# (pulumi/pulumi proto/pulumi/events.proto, shipped as pulumi.runtime.proto), which the CLI
# and the SDK both keep to; a change there breaks real jobs as well, not only this module.
WIRE_PROTOCOL_USERS = {"rehearse/pulumi_standin.py": "pulumi.runtime.proto"}


def _signature_types() -> set[tuple[str, str]]:
    """(module, name) of each class named in the signature of a public pulumi.runtime call."""
    found = set()
    for name in pulumi.runtime.__all__:
        item = getattr(pulumi.runtime, name)
        if inspect.isfunction(item):
            for parameter in inspect.signature(item).parameters.values():
                for option in typing.get_args(parameter.annotation) or (parameter.annotation,):
                    if inspect.isclass(option) and option.__module__.startswith("pulumi."):
                        found.add((option.__module__, option.__name__))
    return found


SIGNATURE_TYPES = _signature_types()


def _is_public_module(module: str) -> bool:
    if module in EXPORTING_PACKAGES:
        return True
    parent, _, child = module.rpartition(".")
    return parent in EXPORTING_PACKAGES and child in importlib.import_module(parent).__all__


def _is_public(module: str, name: str) -> bool:
    if name.startswith("_"):
        return False
    if (module, name) in SIGNATURE_TYPES:
        return True
    if not _is_public_module(module):
        return False
    exported = getattr(importlib.import_module(module), "__all__", None)
    return exported is None or name in exported


def _is_pulumi(module: str) -> bool:
    return module == "pulumi" or module.startswith("pulumi.")


def _is_module(dotted: str) -> bool:
    try:
        importlib.import_module(dotted)
    except ImportError:
        return False
    return True


def _module_path_problems(module: str) -> list[str]:
    """`pulumi.runtime.config` is private although no part of it starts with `_`."""
    parts = module.split(".")
    for index in range(1, len(parts)):
        if not _is_public(".".join(parts[:index]), parts[index]):
            return [".".join(parts[: index + 1])]
    return []


def _attribute_problems(node: ast.Attribute, modules: dict[str, str]) -> list[str]:
    """`runtime_config.CONFIG`, `pulumi.runtime.settings.SETTINGS`: checked step by step."""
    chain = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        chain.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name) or current.id not in modules:
        return []
    module = modules[current.id]
    for name in reversed(chain):
        if not _is_public(module, name):
            return [f"{module}.{name}"]
        if not _is_module(f"{module}.{name}"):
            return []
        module = f"{module}.{name}"
    return []


def _import_problems(node: ast.Import, modules: dict[str, str]) -> list[str]:
    problems = []
    for alias in node.names:
        if _is_pulumi(alias.name):
            problems += _module_path_problems(alias.name)
            local = alias.asname or alias.name.split(".")[0]
            modules[local] = alias.name if alias.asname else local
    return problems


def _import_from_problems(node: ast.ImportFrom, modules: dict[str, str]) -> list[str]:
    module = node.module or ""
    problems = []
    for alias in node.names:
        if (module, alias.name) in SIGNATURE_TYPES:
            continue
        problems += _module_path_problems(module)
        if not _is_public(module, alias.name):
            problems.append(f"{module}.{alias.name}")
        if _is_module(f"{module}.{alias.name}"):
            modules[alias.asname or alias.name] = f"{module}.{alias.name}"
    return problems


def private_pulumi_uses(source: str) -> list[str]:
    """Each private Pulumi name the module imports or reaches through a module attribute."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> the pulumi module it stands for
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += _import_problems(node, modules)
        elif isinstance(node, ast.ImportFrom) and _is_pulumi(node.module or ""):
            problems += _import_from_problems(node, modules)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            problems += _attribute_problems(node, modules)
    return problems


@pytest.mark.parametrize(
    ("source", "private"),
    [
        ("from pulumi.runtime.sync_await import _sync_await", "_sync_await"),
        ("from pulumi.runtime.stack import run_pulumi_func", "pulumi.runtime.stack"),
        ("from pulumi.runtime import config as c\nc.CONFIG.get()", "pulumi.runtime.config"),
        ("import pulumi\npulumi.runtime.config.CONFIG.get()", "pulumi.runtime.config"),
        ("from pulumi.runtime import rpc\nrpc._special_sig_key", "rpc._special_sig_key"),
        ("from pulumi.runtime.settings import SETTINGS", "pulumi.runtime.settings"),
    ],
)
def test_the_check_finds_private_pulumi_names(source: str, private: str) -> None:
    found = private_pulumi_uses(source)
    assert any(private in problem for problem in found), f"{source!r} passed: {found}"


def test_the_check_accepts_documented_calls() -> None:
    source = (
        "import pulumi\nfrom pulumi.runtime import rpc\n"
        "from pulumi.runtime.mocks import MockMonitor\n"
        "pulumi.runtime.set_mocks\npulumi.runtime.test\npulumi.runtime.get_config_env()\n"
        "rpc.is_rpc_secret\npulumi.Output.secret\n"
    )
    assert private_pulumi_uses(source) == []


@pytest.mark.parametrize(
    "module", sorted(INFRA.rglob("*.py")), ids=lambda path: str(path.relative_to(INFRA))
)
def test_infra_uses_only_public_pulumi_names(module: Path) -> None:
    protocol = WIRE_PROTOCOL_USERS.get(str(module.relative_to(INFRA)))
    found = [
        name
        for name in private_pulumi_uses(module.read_text(encoding="utf-8"))
        if protocol is None or not name.startswith(protocol)
    ]
    assert not found, f"{module.relative_to(INFRA.parent)} uses private Pulumi names: {found}"
