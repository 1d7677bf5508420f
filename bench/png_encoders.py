"""`python -m bench.png_encoders`: PNG encoders for the edge map, timed on the bench's
images; a candidate counts only if its PNG decodes to exactly the same pixels.

The edge map holds only 0 and 255. The service encodes it with OpenCV as a 1-bit PNG
(canny.pipeline.PNG_ENCODE_FLAGS); the candidates are Pillow's encoder on the same 1-bit
image (https://pillow.readthedocs.io/en/stable/handbook/image-file-formats.html#png,
`compress_level`) and OpenCV with other flags. CPU time per encode, median of rounds.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
from canny.edge_params import EdgeParams
from canny.pipeline import PNG_ENCODE_FLAGS, decode, detect_edges
from PIL import Image

from bench import images

Encoder = Callable[[np.ndarray], bytes]


def _opencv(flags: list[int]) -> Encoder:
    def encode(edges: np.ndarray) -> bytes:
        ok, encoded = cv2.imencode(".png", edges, flags)
        if not ok:
            raise RuntimeError("OpenCV could not encode")
        return encoded.tobytes()

    return encode


def _pillow_bilevel(level: int) -> Encoder:
    def encode(edges: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(edges).convert("1", dither=Image.Dither.NONE).save(
            out, "PNG", compress_level=level
        )
        return out.getvalue()

    return encode


CANDIDATES: dict[str, Encoder] = {
    "opencv bilevel level 1 RLE (the service)": _opencv(list(PNG_ENCODE_FLAGS)),
    "opencv bilevel level 0": _opencv([cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, 0]),
    "opencv 8-bit level 1 RLE": _opencv(
        [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ),
    "pillow bilevel level 1": _pillow_bilevel(1),
    "pillow bilevel level 0": _pillow_bilevel(0),
}


def same_pixels(png: bytes, edges: np.ndarray) -> bool:
    decoded = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    return decoded is not None and np.array_equal(decoded, edges)


def measure(edges: np.ndarray, encoder: Encoder, repeats: int) -> float:
    """Median CPU seconds of one encode (process time, so other load on the cores counts less)."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        encoder(edges)
        times.append(time.process_time() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.png_encoders", description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    rows = []
    for size in ("1080p", "4K"):
        edges = detect_edges(decode(images.sample(size, "jpeg").data), EdgeParams())
        per_round: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        for _ in range(args.rounds):  # interleaved: every candidate once per round
            for name, encoder in CANDIDATES.items():
                per_round[name].append(measure(edges, encoder, args.repeats))
        for name, encoder in CANDIDATES.items():
            png = encoder(edges)
            ms = [seconds * 1000 for seconds in per_round[name]]
            rows.append(
                {
                    "sample": f"{size} jpeg",
                    "encoder": name,
                    "identical_pixels": same_pixels(png, edges),
                    "kb": round(len(png) / 1024, 1),
                    "cpu_ms": {
                        "median": round(statistics.median(ms), 2),
                        "low": round(min(ms), 2),
                        "high": round(max(ms), 2),
                    },
                }
            )
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
