"""`./run` keeps its backends up: one that exits is restarted, with a growing delay, and
one that keeps exiting stops the run with a clear report instead of flapping forever."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class CrashLoopError(RuntimeError):
    """A backend exited too often in a short time; the message says which and why."""


class SupervisedStack(Protocol):
    """What the supervisor needs of a LocalStack (a protocol, so tests can fake it)."""

    @property
    def backend_names(self) -> list[str]: ...

    def backend_exit_code(self, index: int) -> int | None: ...

    def release_backend(self, index: int) -> None: ...

    def backend_leftovers_alive(self, index: int) -> bool: ...

    def respawn_backend(self, index: int) -> None: ...

    def backend_log_tail(self, index: int) -> str: ...


@dataclass(frozen=True)
class RestartPolicy:
    # Delay before the first restart, doubled for each further exit within `window`.
    first_delay: float = 0.5
    max_delay: float = 8.0
    # This many exits within `window` seconds is a crash loop: the run stops.
    crash_limit: int = 5
    window: float = 60.0
    # How long the workers of a dead master may finish their requests (gunicorn's
    # graceful timeout is 30 s) before they are killed to free the port.
    leftover_grace: float = 35.0

    def delay(self, recent_exits: int) -> float:
        return min(self.first_delay * 2 ** (recent_exits - 1), self.max_delay)


@dataclass
class _BackendState:
    exits: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    released_at: float = 0.0


class Supervisor:
    """Call `check()` now and then (./run does, every 0.2 s); it raises CrashLoopError."""

    def __init__(
        self,
        stack: SupervisedStack,
        policy: RestartPolicy | None = None,
        *,
        report: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack = stack
        self.policy = policy or RestartPolicy()
        self.report = report
        self.clock = clock
        self._states = [_BackendState() for _ in stack.backend_names]

    def check(self) -> None:
        for index, state in enumerate(self._states):
            if state.restart_at is None:
                self._notice_exit(index, state)
            else:
                self._restart_when_due(index, state)

    def _notice_exit(self, index: int, state: _BackendState) -> None:
        code = self.stack.backend_exit_code(index)
        if code is None:
            return
        now = self.clock()
        name = self.stack.backend_names[index]
        self.stack.release_backend(index)
        state.exits.append(now)
        while state.exits and state.exits[0] < now - self.policy.window:
            state.exits.popleft()
        recent = len(state.exits)
        if recent >= self.policy.crash_limit:
            raise CrashLoopError(
                f"{name} exited {recent} times within {self.policy.window:.0f}s "
                f"(last exit code {code}); it is crash-looping, so the run stops. "
                f"Last lines of its log:\n{self.stack.backend_log_tail(index)}"
            )
        delay = self.policy.delay(recent)
        self.report(
            f"{name} exited (code {code}); restarting it in {delay:.1f}s "
            f"({recent} exit(s) in the last {self.policy.window:.0f}s)"
        )
        state.restart_at = now + delay
        state.released_at = now

    def _restart_when_due(self, index: int, state: _BackendState) -> None:
        now = self.clock()
        if state.restart_at is None or now < state.restart_at:
            return
        if (
            self.stack.backend_leftovers_alive(index)
            and now < state.released_at + self.policy.leftover_grace
        ):
            return  # its old workers still hold the port while they finish requests
        self.stack.respawn_backend(index)
        state.restart_at = None
        self.report(f"{self.stack.backend_names[index]} restarted")
