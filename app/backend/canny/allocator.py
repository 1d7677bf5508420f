"""glibc malloc thresholds for a process that allocates image-sized buffers per request.

Each upload needs several buffers of megabytes (the decoded image, grey, blurred and
edge maps). gunicorn's gthread workers run requests in pool threads, whose allocations
come from per-thread arenas, and by default glibc gives freed memory at the top of
such an arena back to the kernel (madvise) whenever it exceeds a trim threshold that
it adjusts on its own. The next upload then page-faults all of its buffers in again,
which costs CPU on every upload; the thresholds below keep that memory for the next request
(the figures: docs/performance.md, "Levers kept").
"""

from __future__ import annotations

import ctypes

# From glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# A 1080p upload's buffers come from the arenas and stay there for the next request.
# Larger buffers (a 4K image's) get their own mapping, returned when freed, and a top of
# free memory over the trim threshold is still given back. Higher thresholds held much more
# memory per worker between 4K uploads (docs/performance.md, "Levers kept").
MMAP_THRESHOLD_BYTES = 16 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 32 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set fixed trim and mmap thresholds; False where the C library has no mallopt."""
    # The process's own symbols, libc's among them: no library search, no ldconfig run.
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    # mallopt returns 1 on success and 0 when it rejects a value.
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    )
