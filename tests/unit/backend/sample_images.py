"""Deterministic test images, encoded in every accepted format (shared by backend tests)."""

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image

EXTENSION_BY_FORMAT = {"jpeg": "jpg", "png": "png", "webp": "webp", "bmp": "bmp", "tiff": "tiff"}


def shapes(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """BGR image with rectangles and circles: strong edges that Canny must find."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 30, dtype=np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(60, 256, size=3))
        cv2.rectangle(image, (x, y), (x + width // 4, y + height // 5), colour, -1)
        cv2.circle(image, (width - x, height - y), max(4, height // 8), colour[::-1], -1)
    return image


def noise(width: int = 97, height: int = 61, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def gradient(width: int = 128, height: int = 64) -> np.ndarray:
    ramp = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
    ramp[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = 255 - 40
    return cv2.merge([ramp, ramp[::-1], np.flipud(ramp)])


def encode(image: np.ndarray, image_format: str = "png") -> bytes:
    ok, buffer = cv2.imencode(f".{EXTENSION_BY_FORMAT[image_format]}", image)
    assert ok, f"OpenCV could not encode a test image as {image_format}"
    return buffer.tobytes()


def pillow_bytes(image: Image.Image, pillow_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, pillow_format, **options)
    return out.getvalue()


def png_declaring(width: int, height: int, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A ~70-byte PNG whose header claims width x height: a decompression bomb's shape.
    Grey 8-bit unless told (PNG spec 11.2.2: colour type 6 is RGBA, 2 is RGB)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def reference_edges(data: bytes, low: int = 100, high: int = 200, blur: int = 5) -> np.ndarray:
    """The documented pipeline (docs/api.md) done with cv2: what the service must reproduce."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.Canny(cv2.GaussianBlur(gray, (blur, blur), 0), low, high)


def decode_png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def progressive_jpeg(width: int, height: int) -> bytes:
    """A black progressive JPEG: tiny however large it declares itself."""
    return pillow_bytes(Image.new("L", (width, height)), "JPEG", progressive=True, quality=50)


def scan_bomb_jpeg(scans: int, width: int = 6000, height: int = 6000) -> bytes:
    """A progressive JPEG whose last scan is repeated until it has `scans` scans.

    Each scan is a few bytes for a black image, but a decoder walks every block of the
    image once per scan: the shape of the scan bomb in libjpeg-turbo's report
    (https://libjpeg-turbo.org/pmwiki/uploads/About/TwoIssueswiththeJPEGStandard.pdf).
    """
    data = progressive_jpeg(width, height)
    last_scan = data.rindex(b"\xff\xda")
    body, repeated, end = data[:last_scan], data[last_scan:-2], data[-2:]
    assert end == b"\xff\xd9", "a JPEG ends with EOI"
    original_scans = data.count(b"\xff\xda")
    return body + repeated * (scans - original_scans + 1) + end
