"""Child processes of the pipeline: a dead child costs one upload, signals sent to the
process group do not stop them, and each run's stage times come back."""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from canny.edge_params import EdgeParams
from canny.errors import ProcessingFailedError
from canny.pipeline_runner import PipelineRunner

from tests.unit.backend import sample_images
from tests.unit.backend.module_probe import ProbingParams

SMALL_PNG = sample_images.encode(sample_images.shapes(), "png")


@pytest.fixture
def runner() -> Iterator[PipelineRunner]:
    runner = PipelineRunner(budget_seconds=30, processes=1, pixel_budget=1_000_000)
    runner.start()
    yield runner
    runner.close()


def test_results_and_stage_times_come_back_from_the_child(runner: PipelineRunner) -> None:
    result = runner.run(SMALL_PNG, EdgeParams(), pixels=160 * 120)
    assert (result.width, result.height) == (160, 120)
    assert set(result.stage_seconds) == {"decode", "canny", "encode"}
    assert runner.child_pids() and os.getpid() not in runner.child_pids()


def test_a_child_that_died_fails_one_upload_and_is_replaced(runner: PipelineRunner) -> None:
    [pid] = runner.child_pids()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ProcessingFailedError):
        runner.run(SMALL_PNG, EdgeParams(), pixels=1)
    assert runner.run(SMALL_PNG, EdgeParams(), pixels=1).width == 160
    assert runner.child_pids() != [pid]


def test_children_ignore_sigterm_and_sigint_sent_to_the_group(runner: PipelineRunner) -> None:
    """A graceful stop signals the backend's whole process group; the worker finishes its
    uploads and its children must still be there to compute them."""
    [pid] = runner.child_pids()
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    assert runner.run(SMALL_PNG, EdgeParams(), pixels=1).width == 160
    assert runner.child_pids() == [pid]


def test_children_never_load_pydantic(runner: PipelineRunner) -> None:
    """Every worker keeps a child per pipeline process: pydantic (the parameter model) would
    add about 25 MB to each, and the bounded-work test's memory ceiling counts them all."""
    result = runner.run(SMALL_PNG, EdgeParams(low=10, high=90, blur=3), pixels=160 * 120)
    assert result.width == 160
    [pid] = runner.child_pids()
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "cv2" in maps, "the child has loaded the pipeline"
    assert "pydantic" not in maps, "the child loaded pydantic"


def test_children_never_load_flask(runner: PipelineRunner, tmp_path: Path) -> None:
    """The exception classes the child raises are plain Python (canny.errors): the web
    framework would cost every child its memory and its import time for nothing."""
    report = tmp_path / "child-modules.txt"
    result = runner.run(SMALL_PNG, ProbingParams(report), pixels=160 * 120)
    assert result.width == 160
    modules = set(report.read_text(encoding="utf-8").split())
    assert "canny.pipeline" in modules, "the report comes from a child that ran the pipeline"
    assert not {"flask", "werkzeug", "jinja2"} & modules, "the child loaded the web framework"
