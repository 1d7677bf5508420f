"""canny.allocator: freed image buffers are reused, not faulted in again per request."""

import subprocess
import sys
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[3] / "app" / "backend"

# Like a request thread of a gthread worker: four 6 MB buffers (about a 1080p upload's)
# allocated, written and freed again and again; prints page faults per round.
ROUNDS_SCRIPT = """
import resource, sys, threading
import numpy as np
from canny import allocator

if sys.argv[1] == "tuned":
    assert allocator.keep_freed_memory()

def rounds(out):
    for _ in range(5):
        buffers = [np.ones(6 << 20, np.uint8) for _ in range(4)]
        del buffers
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        buffers = [np.ones(6 << 20, np.uint8) for _ in range(4)]
        del buffers
    out.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)

out = []
thread = threading.Thread(target=rounds, args=(out,))
thread.start()
thread.join()
print(out[0])
"""
# 24 MB written per round is 6144 pages of 4 KiB.
PAGES_PER_ROUND = 6144


def faults_per_round(mode: str) -> float:
    completed = subprocess.run(
        [sys.executable, "-c", ROUNDS_SCRIPT, mode],
        cwd=BACKEND,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(completed.stdout)


def test_freed_buffers_are_reused_instead_of_faulted_in_again() -> None:
    untuned = faults_per_round("default")
    tuned = faults_per_round("tuned")
    # The control shows the scenario is real: glibc's defaults return the memory.
    assert untuned > PAGES_PER_ROUND / 8, f"default malloc faulted only {untuned} pages a round"
    assert tuned < 50, f"with the thresholds set, {tuned} page faults a round (want ~0)"


def test_keep_freed_memory_reports_success_on_glibc() -> None:
    from canny import allocator

    assert allocator.keep_freed_memory() is True
