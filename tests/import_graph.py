"""Which of the project's packages import which: the contracts in pyproject.toml
(`[tool.importlinter]`) hold them to their layers, and docs/architecture.md draws them.

grimp, import-linter's graph builder, reads every import from the source (also one inside
a function) without importing the modules. `python -m tests.import_graph` prints the
drawing to paste into docs/architecture.md after an intended change.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import grimp
from importlinter import Contract
from importlinter.api import read_configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.protected import ProtectedContract

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# The drawing's nodes and their folders, lowest layer first. The rehearsal runs the whole
# app on local droplets: a layer above the program it drives, with its own node so that
# the program itself stays apart.
PACKAGES = {
    "canny": Path("app/backend/canny"),
    "infra": Path("infra"),
    "localrun": Path("localrun"),
    "infra.rehearse": Path("infra/rehearse"),
    "ci": Path("ci"),
    "bench": Path("bench"),
}
CONTRACT_TYPES: dict[str, type[Contract]] = {
    "forbidden": ForbiddenContract,
    "protected": ProtectedContract,
}


def layer_configuration() -> dict:
    """pyproject.toml's `[tool.importlinter]`: the root packages and the contracts."""
    return read_configuration(str(PYPROJECT))


def project_graph() -> grimp.ImportGraph:
    """Every import between the modules of the project's packages (no cache on disk)."""
    roots = layer_configuration()["session_options"]["root_packages"]
    return grimp.build_graph(*roots, cache_dir=None)


def broken_contracts(graph: grimp.ImportGraph) -> list[str]:
    """The ids of the layer contracts that `graph` breaks."""
    configuration = layer_configuration()
    broken = []
    for options in configuration["contracts_options"]:
        contract = CONTRACT_TYPES[options["type"]](
            name=options["name"],
            session_options=configuration["session_options"],
            contract_options=options,
        )
        # A contract may change the graph it checks (import-linter copies it too).
        if not contract.check(deepcopy(graph), verbose=False).kept:
            broken.append(options["id"])
    return broken


def package_of(module: str) -> str:
    """The drawing's node for a module name: the longest package that holds it."""
    parts = module.split(".")
    return next(
        (".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in PACKAGES),
        parts[0],
    )


def package_imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """For each node, the other nodes its modules import directly."""
    uses: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for module in graph.modules:
        importer = package_of(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if package_of(imported) != importer:
                uses[importer].add(package_of(imported))
    return uses


def _node(package: str) -> str:
    return package.replace(".", "_")


def mermaid(uses: dict[str, set[str]]) -> str:
    """The graph as a Mermaid flowchart (GitLab and GitHub draw it): an arrow per import."""
    lines = ["```mermaid", "flowchart TD"]
    lines += [f"    {_node(package)}[{PACKAGES[package]}/]" for package in uses]
    lines += [
        f"    {_node(package)} --> {_node(used)}"
        for package in uses
        for used in sorted(uses[package], key=list(PACKAGES).index)
    ]
    return "\n".join([*lines, "```"])


if __name__ == "__main__":
    print(mermaid(package_imports(project_graph())))
