"""Fixtures for the infra suites: fresh mocked runs of the program on the real stack files."""

from collections.abc import Callable
from typing import Any

import pytest

from infra.offline import OfflineRun, run_program
from tests.infra.stack_settings import stack_config

STACKS = ("prod", "test", "test-feature-x")


@pytest.fixture
def run_stack() -> Callable[..., OfflineRun]:
    """Run the real program once, fresh, for a stack with optional config overrides.

    An override of None removes the key from the stack's config.
    """

    def run(stack: str, **overrides: Any) -> OfflineRun:
        return run_program(stack, stack_config(stack, **overrides))

    return run
