"""Deterministic benchmark images: the same pixels and bytes on every run and machine.

A synthetic scene (gradients, filled shapes, lines, text, mild sensor-like noise) gives
Canny real work and keeps PNG sizes close to those of photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIZES = {"480p": (640, 480), "1080p": (1920, 1080), "4K": (3840, 2160)}
FORMATS = {
    "jpeg": (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90], "image/jpeg"),
    "png": (".png", [], "image/png"),
}


@dataclass(frozen=True)
class Sample:
    size: str
    image_format: str
    width: int
    height: int
    data: bytes

    @property
    def label(self) -> str:
        return f"{self.size} {self.image_format.upper()}"

    @property
    def filename(self) -> str:
        return f"bench-{self.size}.{FORMATS[self.image_format][0][1:]}"

    @property
    def content_type(self) -> str:
        return FORMATS[self.image_format][2]


def scene(width: int, height: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.dstack(
        [x / width * 200 + 20, y / height * 180 + 30, (x + y) / (width + height) * 150 + 50]
    ).astype(np.uint8)
    scale = height / 480
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        radius = int(rng.integers(height // 40, height // 6))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.circle(image, (cx, cy), radius, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(image, (cx, cy), (cx + radius, cy + radius // 2), colour, -1)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(image, (cx, cy), end, colour, max(1, int(2 * scale)), cv2.LINE_AA)
    for row in range(8):
        origin = (int(20 * scale), int((60 + row * 55) * scale))
        cv2.putText(image, f"canny bench {row}", origin, 0, 1.2 * scale, (240, 240, 240), 2)
    noisy = image + rng.normal(0, 4, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, image_format: str) -> bytes:
    extension, flags, _ = FORMATS[image_format]
    ok, buffer = cv2.imencode(extension, image, flags)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the benchmark image as {image_format}")
    return buffer.tobytes()


def sample(size: str, image_format: str) -> Sample:
    width, height = SIZES[size]
    return Sample(size, image_format, width, height, encode(scene(width, height), image_format))
