"""A per-process budget of pixels being decoded at once: a semaphore weighted by pixels.

Memory for an upload is proportional to the pixels its header declares (decoded BGR
image, grey, blurred and edge maps, Canny's gradients), not to its bytes: a 35 KB PNG
declaring 6000x6000 needs hundreds of megabytes. Reserving declared pixels before
decoding bounds what a worker holds however many uploads arrive at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from canny.errors import ServerBusyError


class PixelBudget:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a pixel budget needs a capacity of at least 1")
        self.capacity = capacity
        self._in_use = 0
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        with self._changed:
            return self._in_use

    @contextmanager
    def reserve(self, pixels: int, timeout: float | None = None) -> Iterator[None]:
        """Wait until `pixels` fit, hold them for the block. An image larger than the
        whole budget takes all of it, so it runs alone instead of never. A wait longer
        than `timeout` seconds is ServerBusyError: the probe saw uploads wait 60 s here
        behind one client's large images, and answer only after the gateway gave up."""
        wanted = max(1, min(pixels, self.capacity))
        with self._changed:
            if not self._changed.wait_for(
                lambda: self._in_use + wanted <= self.capacity,
                max(timeout, 0.0) if timeout is not None else None,
            ):
                raise ServerBusyError("the image processor is busy; try again shortly")
            self._in_use += wanted
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= wanted
                self._changed.notify_all()
