"""The edge pipeline, exactly as docs/api.md documents it so results compare across tools.

imdecode(IMREAD_COLOR, which applies EXIF orientation) -> BGR2GRAY -> GaussianBlur
-> Canny -> PNG. Each stage is timed; the caller records the times (the pipeline runs in
a child process, see canny.pipeline_runner, whose metrics nobody would collect).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import cv2
import numpy as np

from canny import allocator
from canny.decoder_messages import captured_stderr, reports_damage
from canny.errors import InvalidImageError

T = TypeVar("T")


class CannyParams(Protocol):
    """The parameters the pipeline reads, by name: an EdgeParams, or the plain copy of one
    (EdgeParams.canny_params()) that a child process gets without importing pydantic."""

    low: int
    high: int
    blur: int


# Canny output holds only 0 and 255, so a 1-bit PNG stores the same pixels; decoders
# (browsers, cv2.imdecode) expand it back to 0/255 grey. Level 1 with the RLE strategy
# (named again: setting the level alone resets the strategy) was the fastest and
# smallest bilevel setting measured on the bench images (docs/performance.md, "Levers kept").
PNG_ENCODE_FLAGS: tuple[int, ...] = (
    cv2.IMWRITE_PNG_BILEVEL,
    1,
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_RLE,
)


def tune_opencv(threads: int) -> None:
    """OpenCV's thread pool and log level for this process.

    One thread per pipeline run: the backend's workers and their pipeline children already
    keep the cores busy, and a pool per process only adds page faults, `sched_yield`
    spinning and `munmap` calls (docs/performance-levers.md). A corrupt upload is answered
    with a JSON 400, so OpenCV's own warnings about it would only add non-JSON log lines.
    """
    cv2.setNumThreads(threads)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def tune_process(threads: int) -> bool:
    """The one tuning of every process that runs the pipeline (the backend's pipeline
    children and the bench's reference): OpenCV's threads and glibc's malloc thresholds
    (canny.allocator). False where the C library has no mallopt."""
    tune_opencv(threads)
    return allocator.keep_freed_memory()


@dataclass(frozen=True)
class EdgeResult:
    png: bytes
    width: int
    height: int
    # Seconds per stage: decode, canny (gray + blur + Canny), encode (and view).
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # The decoded original as PNG, for originals browsers cannot show (TIFF).
    view_png: bytes | None = None


def decode(data: bytes | memoryview) -> np.ndarray:
    """Decode to 8-bit BGR; 16-bit, alpha and grey inputs are converted by IMREAD_COLOR.
    A decoder's warning that data was lost is an error too (see decoder_messages)."""
    with captured_stderr() as printed:
        try:
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        except cv2.error:
            image = None
    if image is None or reports_damage(b"".join(printed)):
        raise InvalidImageError("the image data is corrupt or truncated")
    return image


def detect_edges(image: np.ndarray, params: CannyParams) -> np.ndarray:
    return edges_of_gray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), params)


def edges_of_gray(gray: np.ndarray, params: CannyParams) -> np.ndarray:
    blurred = cv2.GaussianBlur(gray, (params.blur, params.blur), 0)
    return cv2.Canny(blurred, params.low, params.high)


def encode_png(edges: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", edges, list(PNG_ENCODE_FLAGS))
    if not ok:
        raise RuntimeError("OpenCV could not encode the edge map as PNG")
    return encoded.tobytes()


def _timed(stage_seconds: dict[str, float], stage: str, step: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = step()
    stage_seconds[stage] = time.perf_counter() - started
    return value


# The longest side of a view: more than a gallery or a 4K screen shows. A small JPEG-
# compressed TIFF of 40 M pixels stored a full-size view.png many times its size
# (docs/storage.md, Shared originals and the byte quota); its original stays stored as
# uploaded, and its edge map at full size.
VIEW_MAX_SIDE = 4096


def encode_view_png(image: np.ndarray) -> bytes:
    """The decoded original (orientation applied) as a PNG any browser shows, scaled down
    (INTER_AREA, the resampling OpenCV advises for shrinking) to at most VIEW_MAX_SIDE."""
    height, width = image.shape[:2]
    scale = VIEW_MAX_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("OpenCV could not encode the view rendition as PNG")
    return encoded.tobytes()


def run(data: bytes | memoryview, params: CannyParams, with_view: bool = False) -> EdgeResult:
    """Edges of `data`; with `with_view`, also the decoded original as PNG.

    The decoded colour image is the largest buffer (3 bytes a pixel, 108 MB for 6000x6000):
    its view is encoded first, and it is let go as soon as its grey copy exists, so it is
    not held through the blur and Canny (the memory ceiling in docs/operations.md counts
    every child's peak)."""
    stage_seconds: dict[str, float] = {}
    image = _timed(stage_seconds, "decode", lambda: decode(data))
    view = None
    if with_view:
        view = _timed(stage_seconds, "view", functools.partial(encode_view_png, image))
    started = time.perf_counter()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    del image
    edges = edges_of_gray(gray, params)
    stage_seconds["canny"] = time.perf_counter() - started
    png = _timed(stage_seconds, "encode", lambda: encode_png(edges))
    height, width = edges.shape
    return EdgeResult(
        png=png, width=width, height=height, stage_seconds=stage_seconds, view_png=view
    )
