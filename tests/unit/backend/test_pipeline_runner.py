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


def _threads_and_minor_faults(pid: int) -> tuple[int, int]:
    """The process's thread count and minor page faults so far (proc(5): stat field 10)."""
    threads = len(os.listdir(f"/proc/{pid}/task"))
    stat = Path(f"/proc/{pid}/stat").read_text()
    return threads, int(stat.rsplit(")", 1)[1].split()[7])


@pytest.mark.parametrize("opencv_threads", [1, 2])
def test_a_pipeline_child_is_tuned_like_the_reference(opencv_threads: int) -> None:
    """The child, not only its gunicorn worker, gets the pipeline's tuning: OpenCV's thread
    count from the settings (a pool of its own would cost a 4K image tens of ms), and the
    malloc thresholds that keep a 1080p image's buffers for the next upload instead of
    faulting about 2,500 pages in again. Read from outside the child: its threads in /proc,
    and the page faults of repeated runs (the fewest of three: the kernel may reclaim pages
    between runs, which only ever adds faults)."""
    jpeg = sample_images.encode(sample_images.shapes(width=1920, height=1080), "jpeg")
    runner = PipelineRunner(
        budget_seconds=30, processes=1, pixel_budget=1920 * 1080, opencv_threads=opencv_threads
    )
    runner.start()
    try:
        [pid] = runner.child_pids()
        runner.run(jpeg, EdgeParams(), pixels=1920 * 1080)
        faults = []
        for _ in range(3):
            _, before = _threads_and_minor_faults(pid)
            runner.run(jpeg, EdgeParams(), pixels=1920 * 1080)
            threads, after = _threads_and_minor_faults(pid)
            faults.append(after - before)
    finally:
        runner.close()
    # OpenCV's pool runs `threads - 1` workers beside the calling thread.
    assert threads == opencv_threads, f"the child runs {threads} threads"
    assert min(faults) < 300, f"the child faulted {faults} pages per 1080p image"
