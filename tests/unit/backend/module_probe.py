"""Parameters that report the modules of the process that receives them.

A pipeline child gets its parameters pickled through its pipe; unpickling a ModulesProbe
writes the child's `sys.modules` to a file and hands the pipeline the plain parameters, so a
test reads what a real child, started the real way, has loaded. Standard library only at
import (the child imports this module to unpickle), so the probe adds nothing the test
looks for; the parameters it carries are the model's own plain copy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace


def _record_modules(report: str, params: SimpleNamespace) -> SimpleNamespace:
    Path(report).write_text("\n".join(sorted(sys.modules)), encoding="utf-8")
    return params


class ModulesProbe:
    def __init__(self, report: Path, params: SimpleNamespace) -> None:
        self.report = report
        self.params = params

    def __reduce__(self) -> tuple[object, tuple[str, SimpleNamespace]]:
        return _record_modules, (str(self.report), self.params)


class ProbingParams:
    """Stands in for EdgeParams where the runner asks for the child's parameters."""

    def __init__(self, report: Path) -> None:
        self.report = report

    def canny_params(self) -> ModulesProbe:
        # Imported here, in the test's process: this module must load in the child bare.
        from canny.edge_params import EdgeParams

        return ModulesProbe(self.report, EdgeParams().canny_params())
