"""glibc malloc thresholds for a process that allocates image-sized buffers per request.

Each upload needs several buffers of megabytes (the decoded image, grey, blurred and
edge maps). gunicorn's gthread workers run requests in pool threads, whose allocations
come from per-thread arenas, and by default glibc gives freed memory at the top of
such an arena back to the kernel (madvise) whenever it exceeds a trim threshold that
it adjusts on its own. The next upload then page-faults all of its buffers in again:
measured on a 1080p JPEG after a few hundred uploads, 2,558 page faults and about
10 ms more CPU per upload (34.2 ms against 23.8 ms with the thresholds below, which
keep that memory for the next request; docs/performance.md has the figures).
"""

from __future__ import annotations

import ctypes

# From glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# A 1080p upload's buffers (the largest is its 6 MB BGR image) come from the arenas and
# stay there for the next request. Larger buffers (a 4K image is 25 MB) get their own
# mapping, returned when freed, and a top of free memory over the trim threshold is
# still given back. Keeping everything up to 32/64 MB instead held 185-205 MB per worker
# between 4K uploads (275 MB peak); these values: 116 MB, 212 MB peak (python -m bench).
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
