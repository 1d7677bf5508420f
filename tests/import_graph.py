"""Which of the project's packages import which: the graph docs/architecture.md draws and
tests/unit/test_import_layers.py holds to its layers.

Read from the source with `ast` (nothing is imported), so a test sees every import, also
one inside a function. `python -m tests.import_graph` prints the drawing to paste into
docs/architecture.md after an intended change.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Each package and its folder, lowest layer first.
PACKAGES = {
    "canny": Path("app/backend/canny"),
    "infra": Path("infra"),
    "localrun": Path("localrun"),
    # The rehearsal runs the whole app on local droplets: a layer above the program it
    # drives, with its own place in the graph so that the program itself stays apart.
    "infra.rehearse": Path("infra/rehearse"),
    "ci": Path("ci"),
    "bench": Path("bench"),
}


def imported_names(source: str) -> set[str]:
    """Absolute module names a module imports (relative imports stay inside its package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def package_of(module: str) -> str:
    """The graph's node for a module name: the longest package that holds it."""
    parts = module.split(".")
    return next(
        (".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in PACKAGES),
        parts[0],
    )


def package_imports(root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """For each package, the other packages its modules import (a nested package's modules
    count for it alone)."""
    graph: dict[str, set[str]] = {}
    for package, folder in PACKAGES.items():
        paths = [
            path
            for path in sorted((root / folder).rglob("*.py"))
            if package_of(".".join((package, *path.relative_to(root / folder).parts[:-1])))
            == package
        ]
        used = {
            package_of(name)
            for path in paths
            for name in imported_names(path.read_text(encoding="utf-8"))
        }
        graph[package] = {other for other in used if other in PACKAGES and other != package}
    return graph


def _node(package: str) -> str:
    return package.replace(".", "_")


def mermaid(graph: dict[str, set[str]]) -> str:
    """The graph as a Mermaid flowchart (GitLab and GitHub draw it): an arrow per import."""
    lines = ["```mermaid", "flowchart TD"]
    lines += [f"    {_node(package)}[{PACKAGES[package]}/]" for package in graph]
    lines += [
        f"    {_node(package)} --> {_node(used)}"
        for package in graph
        for used in sorted(graph[package], key=list(PACKAGES).index)
    ]
    return "\n".join([*lines, "```"])


if __name__ == "__main__":
    print(mermaid(package_imports()))
