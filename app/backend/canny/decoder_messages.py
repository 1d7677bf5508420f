"""What a native decoder printed while it decoded: libjpeg reports damage only this way.

libjpeg-turbo handles a truncated or damaged JPEG with a *warning* (JWRN_HIT_MARKER
"Corrupt JPEG data: premature end of data segment", JWRN_JPEG_EOF "Premature end of JPEG
file", ... in jerror.h), fills the missing blocks with grey and returns an image; its
default emit_message prints the first warning to stderr and OpenCV's imdecode returns the
image anyway. So a truncated upload was answered 201 with a half-grey result, though the
docs promise a corrupt image is a 400. Reading what the decoder printed is the only signal
OpenCV leaves.

The redirect swaps file descriptor 2 for the whole process, so it is for the pipeline's
child processes, which run one decode at a time on a single thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

# libjpeg's warnings that mean image data was lost (jerror.h); other warnings, such as
# JWRN_NOT_SEQUENTIAL that some cameras trigger on intact files, are not refused.
DAMAGE_MESSAGES = (b"Corrupt JPEG data", b"Premature end of JPEG file")


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[bytes]]:
    """Within the block, fd 2 goes to a temp file; the list then holds what was written."""
    captured: list[bytes] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read())


def reports_damage(messages: bytes) -> bool:
    return any(message in messages for message in DAMAGE_MESSAGES)
