"""The restart policy of ./run: backoff, waiting for a dead master's workers, crash loops.
A fake stack and clock stand in for processes and time; test_run_supervision.py runs the
real thing."""

from dataclasses import dataclass, field

import pytest

from localrun.supervisor import CrashLoopError, RestartPolicy, Supervisor


@dataclass
class FakeStack:
    backend_names: list[str] = field(default_factory=lambda: ["backend-1", "backend-2"])
    exit_codes: dict[int, int] = field(default_factory=dict)
    leftovers: set[int] = field(default_factory=set)
    released: list[int] = field(default_factory=list)
    respawned: list[int] = field(default_factory=list)

    def backend_exit_code(self, index: int) -> int | None:
        return self.exit_codes.get(index)

    def release_backend(self, index: int) -> None:
        self.exit_codes.pop(index)
        self.released.append(index)

    def backend_leftovers_alive(self, index: int) -> bool:
        return index in self.leftovers

    def respawn_backend(self, index: int) -> None:
        self.respawned.append(index)

    def backend_log_tail(self, index: int) -> str:
        return f"last words of {self.backend_names[index]}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def supervisor(stack: FakeStack, clock: Clock, reports: list[str]) -> Supervisor:
    return Supervisor(stack, RestartPolicy(), report=reports.append, clock=clock)


def test_a_backend_that_exits_is_restarted_after_the_first_delay(clock: Clock) -> None:
    stack, reports = FakeStack(), []
    watcher = supervisor(stack, clock, reports)
    watcher.check()
    assert stack.released == [] and stack.respawned == []

    stack.exit_codes[0] = -9
    watcher.check()
    assert stack.released == [0]
    assert reports == [
        "backend-1 exited (code -9); restarting it in 0.5s (1 exit(s) in the last 60s)"
    ]
    clock.now += 0.4
    watcher.check()
    assert stack.respawned == [], "restarted before its delay"
    clock.now += 0.1
    watcher.check()
    assert stack.respawned == [0]
    assert reports[-1] == "backend-1 restarted"


def test_each_further_exit_doubles_the_delay_up_to_the_cap(clock: Clock) -> None:
    stack, reports = FakeStack(), []
    policy = RestartPolicy(first_delay=0.5, max_delay=2.0, crash_limit=10, window=600)
    watcher = Supervisor(stack, policy, report=reports.append, clock=clock)
    delays = []
    for _ in range(5):
        stack.exit_codes[1] = 3
        watcher.check()
        delays.append(float(reports[-1].split(" in ")[1].split("s ")[0]))
        clock.now += 10
        watcher.check()
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert stack.respawned == [1] * 5


def test_the_restart_waits_while_the_dead_masters_workers_finish(clock: Clock) -> None:
    stack, reports = FakeStack(), []
    watcher = supervisor(stack, clock, reports)
    stack.exit_codes[0] = -9
    stack.leftovers.add(0)
    watcher.check()
    clock.now += 5
    watcher.check()
    assert stack.respawned == [], "restarted while the old workers still hold the port"
    stack.leftovers.clear()
    watcher.check()
    assert stack.respawned == [0]


def test_workers_that_never_finish_do_not_block_the_restart_forever(clock: Clock) -> None:
    stack, reports = FakeStack(), []
    watcher = supervisor(stack, clock, reports)
    stack.exit_codes[0] = -9
    stack.leftovers.add(0)
    watcher.check()
    clock.now += RestartPolicy().leftover_grace
    watcher.check()
    assert stack.respawned == [0], "respawn_backend kills what is left once the grace is over"


def test_a_crash_loop_stops_the_run_with_a_clear_report(clock: Clock) -> None:
    stack, reports = FakeStack(), []
    watcher = supervisor(stack, clock, reports)
    for _ in range(4):
        stack.exit_codes[1] = 3
        watcher.check()
        clock.now += 10
        watcher.check()
    stack.exit_codes[1] = 3
    with pytest.raises(CrashLoopError) as raised:
        watcher.check()
    message = str(raised.value)
    assert "backend-2 exited 5 times within 60s (last exit code 3)" in message
    assert "crash-looping, so the run stops" in message
    assert "last words of backend-2" in message
    assert stack.respawned == [1] * 4


def test_exits_spread_over_more_than_the_window_are_no_crash_loop(clock: Clock) -> None:
    stack, reports = FakeStack(), []
    watcher = supervisor(stack, clock, reports)
    for _ in range(12):
        stack.exit_codes[0] = -9
        watcher.check()
        clock.now += 25
        watcher.check()
    assert stack.respawned == [0] * 12
    assert "3 exit(s) in the last 60s" in reports[-2]
