"""Child processes of the pipeline: a dead child costs one upload, signals sent to the
process group do not stop them, and each run's stage times come back."""

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from canny import pipeline
from canny.edge_params import EdgeParams
from canny.errors import InvalidImageError, ProcessingInterruptedError, ServerBusyError
from canny.pipeline_pool import PipelinePool
from canny.pipeline_runner import PipelineRunner
from canny.settings import Settings

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


def test_an_idle_child_that_died_costs_no_upload_and_is_replaced(
    runner: PipelineRunner, capfd: pytest.CaptureFixture[str]
) -> None:
    """Children are the pool's, not a run's: the pool replaces a dead one whether or not it
    was working, and an upload only ever reaches a live child."""
    [pid] = runner.child_pids()
    os.kill(pid, signal.SIGKILL)
    # Until the kill has landed: a child woken by SIGKILL may still take a connection
    # waiting in the queue before it exits (that run is then a retryable 503, below).
    deadline = time.monotonic() + 10
    while runner.child_pids() in ([pid], []) and time.monotonic() < deadline:
        time.sleep(0.01)
    [replacement] = runner.child_pids()
    assert replacement != pid
    assert runner.run(SMALL_PNG, EdgeParams(), pixels=1).width == 160


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


def test_a_child_killed_mid_run_is_a_retryable_503_logged_at_warning(
    runner: PipelineRunner, caplog: pytest.LogCaptureFixture
) -> None:
    """The probe's finding: a valid file whose child was killed got 422 processing_failed,
    blaming the file, and nothing was logged at WARNING."""
    [pid] = runner.child_pids()
    # Seconds of decoding, so the kill lands while the child works on it.
    slow = sample_images.scan_bomb_jpeg(400, 2000, 2000)
    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(ProcessingInterruptedError) as refused, caplog.at_level(logging.WARNING):
        runner.run(slow, EdgeParams(), pixels=1)
    assert (refused.value.status, refused.value.retry_after_seconds) == (503, 1)
    assert f"pipeline child {pid} died under an upload" in caplog.text


# Seconds of decoding for one child: keeps it busy while the test asks for another run.
SLOW_JPEG = sample_images.scan_bomb_jpeg(400, 2000, 2000)


def busy_runner(waiting: int) -> tuple[PipelineRunner, threading.Thread]:
    """A one-child runner whose child is busy with SLOW_JPEG in a background thread."""
    runner = PipelineRunner(budget_seconds=30, processes=1, pixel_budget=1_000_000, waiting=waiting)
    runner.start()
    [pid] = runner.child_pids()
    hog = threading.Thread(target=runner.run, args=(SLOW_JPEG, EdgeParams(), 1))
    _start_computing(hog, [pid])
    return runner, hog


# CPU a child spends on SLOW_JPEG before the test counts it as busy: far more than taking
# a connection costs, far less than the decode.
BUSY_CPU_TICKS = 5


def _cpu_ticks(pid: int) -> int:
    """The process's user + system time so far, in clock ticks (proc(5): stat fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _start_computing(hog: threading.Thread, children: list[int]) -> None:
    """Start `hog` and return once one of `children` spends CPU on it: a child that has
    just been woken to take a connection is running too, but not yet computing."""
    idle = {pid: _cpu_ticks(pid) for pid in children}
    hog.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(_cpu_ticks(pid) - ticks >= BUSY_CPU_TICKS for pid, ticks in idle.items()):
            return
        time.sleep(0.01)


def test_a_full_queue_answers_busy_at_once() -> None:
    runner, hog = busy_runner(waiting=0)
    try:
        started = time.monotonic()
        with pytest.raises(ServerBusyError) as refused:
            runner.run(SMALL_PNG, EdgeParams(), pixels=1)
        assert time.monotonic() - started < 1, "a full queue must not wait"
        assert (refused.value.status, refused.value.retry_after_seconds) == (503, 1)
    finally:
        hog.join()
        runner.close()


def test_a_wait_for_a_child_ends_when_the_deadline_leaves_no_time_to_run() -> None:
    """The wait may last only as long as the budget still fits before the deadline."""
    runner, hog = busy_runner(waiting=4)
    try:
        started = time.monotonic()
        with pytest.raises(ServerBusyError):
            runner.run(SMALL_PNG, EdgeParams(), pixels=1, deadline=started + 30.3)
        assert time.monotonic() - started < 2, "waited past the deadline's slack"
    finally:
        hog.join()
        runner.close()


def test_a_busy_child_leaves_the_next_uploads_to_an_idle_one() -> None:
    """Issue 31: each worker had a child of its own, and a kept-alive connection stays with
    one worker, so one child queued uploads while the other idled. Two workers' runners
    share the backend's two children: while one child decodes a slow upload, the next
    upload of the same worker and one of the other worker are both computed by the other
    child at once, not queued behind the slow one."""
    pool = PipelinePool.start(processes=2, opencv_threads=1)
    busy, other = (
        PipelineRunner(budget_seconds=30, processes=1, pixel_budget=1_000_000, waiting=4)
        for _ in range(2)
    )
    hog = threading.Thread(target=busy.run, args=(SLOW_JPEG, EdgeParams(), 1))
    try:
        for runner in (busy, other):
            runner.start(pool)
        _start_computing(hog, pool.child_pids())
        started = time.monotonic()
        for runner in (busy, other, busy, other):
            assert runner.run(SMALL_PNG, EdgeParams(), pixels=1).width == 160
        served_in = time.monotonic() - started
        assert hog.is_alive(), "the slow upload ended first: the test shows nothing"
        assert served_in < 1, f"small uploads waited {served_in:.2f} s behind the slow one"
    finally:
        hog.join()
        pool.close()


def test_one_worker_may_keep_two_children_busy_with_4k_images() -> None:
    """Issue 31: with the default budget of 16 M pixels, a worker that held all of a
    client's kept-alive connections ran one 4K image (3840 x 2160 = 8.3 M) at a time, and
    the backend's other child idled (docs/performance-levers.md, "Pipeline children shared
    by a backend's workers")."""
    settings = Settings()
    runner = PipelineRunner(budget_seconds=30, processes=2, pixel_budget=settings.pixel_budget)
    four_k = 3840 * 2160
    with runner.pixels.reserve(four_k), runner.pixels.reserve(four_k, timeout=0):
        assert runner.pixels.in_use == 2 * four_k


def test_children_never_load_flask(runner: PipelineRunner, tmp_path: Path) -> None:
    """The exception classes the child raises are plain Python (canny.errors): the web
    framework would cost every child its memory and its import time for nothing."""
    report = tmp_path / "child-modules.txt"
    result = runner.run(SMALL_PNG, ProbingParams(report), pixels=160 * 120)
    assert result.width == 160
    modules = set(report.read_text(encoding="utf-8").split())
    assert "canny.pipeline" in modules, "the report comes from a child that ran the pipeline"
    assert not {"flask", "werkzeug", "jinja2"} & modules, "the child loaded the web framework"


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


def test_uploads_reach_the_child_through_a_memory_file_not_the_pipe(
    runner: PipelineRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 31: pickled through the pipe, an upload was copied four times. Every size (an
    empty and a corrupt one included) gives the in-process answer, the pipe carries only
    small messages, and no memory file stays open or mapped in the child after its run (a
    kept one broke the memory ceiling: `git show cc42d5e`)."""
    sent: list[int] = []
    send_bytes = Connection._send_bytes

    def recording_send_bytes(self: Connection, buffer: memoryview) -> None:
        sent.append(len(buffer))
        send_bytes(self, buffer)

    monkeypatch.setattr(Connection, "_send_bytes", recording_send_bytes)
    large = sample_images.encode(sample_images.noise(800, 600), "png")
    for data in (SMALL_PNG, large, SMALL_PNG):
        result = runner.run(data, EdgeParams(), pixels=1)
        expected = pipeline.run(data, EdgeParams().canny_params())
        assert (result.png, result.width, result.height) == (
            expected.png,
            expected.width,
            expected.height,
        )
    for corrupt in (b"", large[: len(large) // 2]):
        with pytest.raises(InvalidImageError):
            runner.run(corrupt, EdgeParams(), pixels=1)
    assert max(sent) < 1024 < len(large), f"the upload went through the pipe: {sent} bytes"
    [pid] = runner.child_pids()
    assert "canny-upload" not in Path(f"/proc/{pid}/maps").read_text()
    open_files = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    assert not [name for name in open_files if "canny-upload" in name], open_files
