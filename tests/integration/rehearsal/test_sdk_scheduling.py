"""What the rehearsal relies on: under mocks, Pulumi's Python SDK calls `new_resource` only
once every dependency of a resource is registered, and for independent resources at once.

That is what makes the rehearsal's step order and its races the engine's: the SDK awaits
each dependency's URN (and input values) before it sends RegisterResource
(pulumi/pulumi sdk/python/lib/pulumi/runtime/resource.py, prepare_resource), and the mock
monitor answers a registration only after `new_resource` returned; registrations go to the
event loop's default executor, so with a thread pool they overlap (infra/offline.py,
run_program(threads=...)).
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pulumi

from infra.offline import OfflineMocks, RecordingMonitor, run_program

STEP_SECONDS = 0.5
PROGRAM = """
import pulumi

class Step(pulumi.CustomResource):
    def __init__(self, name, opts=None, **props):
        super().__init__("rehearsal:test:Step", name, props, opts)

first = Step("first")
after_first = Step("after-first", opts=pulumi.ResourceOptions(depends_on=[first]))
uses_first = Step("uses-first", value=first.id)
independent = Step("independent")
"""


class TimingMocks(OfflineMocks):
    def __init__(self) -> None:
        super().__init__()
        self.spans: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        started = time.monotonic()
        time.sleep(STEP_SECONDS)
        answer = super().new_resource(args)
        with self._lock:
            self.spans[args.name] = (started, time.monotonic())
        return answer


def _run(tmp_path: Path, threads: int) -> dict[str, tuple[float, float]]:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    mocks = TimingMocks()
    run_program("test", {}, program=program, monitor=RecordingMonitor(mocks), threads=threads)
    return mocks.spans


def test_dependents_start_after_their_dependency_and_the_rest_overlaps(tmp_path: Path) -> None:
    spans = _run(tmp_path, threads=8)
    first_end = spans["first"][1]
    assert spans["after-first"][0] >= first_end, "depends_on: registered before `first` ended"
    assert spans["uses-first"][0] >= first_end, "an input from `first` was not awaited"
    assert spans["independent"][0] < first_end, "independent steps did not run at once"


def test_without_threads_nothing_overlaps(tmp_path: Path) -> None:
    """The offline plan's inline executor runs one registration at a time: the rehearsal
    needs the thread pool for the engine's concurrency."""
    spans = sorted(_run(tmp_path, threads=0).values())
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))
