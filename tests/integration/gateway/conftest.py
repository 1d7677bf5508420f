"""A gateway stack shared by a test module."""

from collections.abc import Callable, Iterator

import pytest

from localrun import LocalStack
from tests.conftest import UNTHROTTLED


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> Iterator[LocalStack]:
    """One stack per module: starting nginx and two backends for every test would dominate.
    The upload rate limit is raised out of the way; its own test sets a low one. The
    space in the folder name keeps the rendered paths honest (they must be quoted)."""
    require_tool("nginx")
    run_dir = tmp_path_factory.mktemp("gateway run")
    with LocalStack(
        run_dir,
        **UNTHROTTLED,
    ) as stack:
        yield stack
