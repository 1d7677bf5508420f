"""Fixtures for the infra suites: the real stack files, and fresh mocked runs of the program."""

from collections.abc import Callable
from typing import Any

import pytest

from infra.offline import OfflineRun, run_program
from infra.plan import REQUIRED_STAND_INS, prod_stand_ins
from infra.stack_file import default_config_file, read_stack_config

STACKS = ("prod", "test", "test-feature-x")


def stack_config(stack: str, **overrides: Any) -> dict[str, Any]:
    """The stack file's values (prod's placeholders and receiver given stand-ins as the
    offline plan does) plus the per-deploy values CI sets; keys as "canny:<name>"."""
    config, _ = prod_stand_ins(stack, read_stack_config(default_config_file(stack)).values)
    config |= REQUIRED_STAND_INS | {"canny:imageTag": "0123abcd"}
    for key, value in overrides.items():
        full_key = key if ":" in key else f"canny:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value
    return config


@pytest.fixture
def run_stack() -> Callable[..., OfflineRun]:
    """Run the real program once, fresh, for a stack with optional config overrides.

    An override of None removes the key from the stack's config.
    """

    def run(stack: str, **overrides: Any) -> OfflineRun:
        return run_program(stack, stack_config(stack, **overrides))

    return run
