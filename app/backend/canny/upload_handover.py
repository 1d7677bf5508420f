"""An upload handed from a worker to its pipeline child without copying it through the pipe.

Pickled over the pipe, an upload was copied four times (pickle, socket, the child's read,
unpickle), and the child's fresh copy faulted in again (figures: docs/performance-levers.md,
Figures behind the code's design choices). Here the worker writes it once into a memory
file made for this upload alone (memfd_create(2)) and passes the file's descriptor over
the pipe (SCM_RIGHTS); the child maps it read-only, decodes from the mapping and unmaps it
before answering.

Why one file per upload and not one kept per child: a kept file (the reverted attempt,
`git show cc42d5e`) grew to twice the largest upload a child had seen and stayed mapped in
both processes, which broke the memory ceiling. A file per upload exists only while the
upload is being computed, is mapped by the child alone (the worker writes it with write(2),
it never maps it), and holds exactly the upload's bytes: the worker's request body and this
file are the only copies, as against the request body and the child's unpickled copy before.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import reduction
from multiprocessing.connection import Connection


def send_upload(connection: Connection, data: bytes) -> None:
    """Write `data` into a new memory file and send its descriptor to the child.

    The worker's descriptor is closed at once: the one in flight (and then the child's) keeps
    the file alive, and a child killed before reading it closes the socket, which drops the
    descriptor in flight and so the file (unix(7), SCM_RIGHTS)."""
    fd = os.memfd_create("canny-upload", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        # https://docs.python.org/3/library/multiprocessing.html: send_handle/recv_handle
        # pass a descriptor over a Unix socket (multiprocessing/reduction.py, sendmsg with
        # SCM_RIGHTS); the forkserver context's duplex Pipe() is a socketpair. The
        # destination pid is only used on Windows (to duplicate the handle into it).
        reduction.send_handle(connection, fd, os.getpid())
    finally:
        os.close(fd)


@contextmanager
def received_upload(connection: Connection, size: int) -> Iterator[memoryview]:
    """The upload the worker sent, as a read-only view of its memory file for the block.

    MAP_POPULATE maps every page in the one mmap call, rather than a fault per 4 KiB page
    while the decoder reads (mmap(2)). The caller must not keep the view past the block:
    unmapping with a view still exported raises BufferError."""
    fd = reduction.recv_handle(connection)
    try:
        # An empty upload cannot be mapped (mmap of length 0 is EINVAL); it is still given
        # to the decoder, which refuses it as it refuses any corrupt file.
        if size == 0:
            yield memoryview(b"")
            return
        mapping = mmap.mmap(
            fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE, prot=mmap.PROT_READ
        )
    finally:
        os.close(fd)
    with mapping:
        view = memoryview(mapping)
        try:
            yield view
        finally:
            view.release()
