"""Restarting the backends one at a time, as a deploy does, fails no upload.

The procedure: stop one backend (SIGTERM: gunicorn finishes what it has), start it, wait
until it is ready and the gateway's fail_timeout has passed, then the next. The wait
matters: each nginx worker keeps its own count of failures, and one that still counts
the restarted backend as down has no backend left while the other one restarts.
"""

import re
import time

from localrun import LocalStack
from tests.integration.gateway.gateway_client import access_log_entries
from tests.integration.resilience.load_client import BackgroundUploads, stop_backend_gracefully

BACK_IN_ROTATION_TIMEOUT = 30


def gateway_fail_timeout(stack: LocalStack) -> float:
    """The longest time nginx keeps a failed backend out of rotation, from its config."""
    config = (stack.state_dir / "nginx.conf").read_text()
    return max(float(seconds) for seconds in re.findall(r"fail_timeout=(\d+)s", config))


def wait_until_serving(stack: LocalStack, index: int, logged_before: int) -> None:
    """Bounded poll of the access log until the backend answers an upload logged after
    the first `logged_before` lines."""
    address = stack.backends[index].address
    deadline = time.monotonic() + BACK_IN_ROTATION_TIMEOUT
    while time.monotonic() < deadline:
        entries = access_log_entries(stack)[logged_before:]
        if any(
            e["upstream_addr"].split(", ")[-1] == address and e["status"] == 201 for e in entries
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"{address} served no upload {BACK_IN_ROTATION_TIMEOUT}s after restart")


def test_rolling_restart_under_load_fails_no_request(local_stack: LocalStack) -> None:
    old_pids = [backend.pid for backend in local_stack.backends]
    back_in_rotation = gateway_fail_timeout(local_stack) + 1
    with BackgroundUploads(local_stack, limit=5000, pause_seconds=0.03) as load:
        load.wait_for(30)
        for index in range(len(local_stack.backends)):
            stop_backend_gracefully(local_stack, index)
            load.wait_for(20)  # the other backend carries the load alone meanwhile
            local_stack.start_backend(index)
            time.sleep(back_in_rotation)
            wait_until_serving(local_stack, index, len(access_log_entries(local_stack)))
        load.wait_for(20)
    new_pids = [backend.pid for backend in local_stack.backends]
    print(f"\nrolling restart: {len(load.statuses)} uploads, {len(load.failures)} failed")
    assert not set(old_pids) & set(new_pids), f"not every backend restarted: {old_pids} {new_pids}"
    assert not load.failures, f"{len(load.failures)} uploads failed: {load.failures[:5]}"
