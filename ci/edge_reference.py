"""A sample image and its expected edge map, computed here and not by the backend's code.

The smoke test must not trust the code it checks, so the documented pipeline (docs/api.md) is
written out again: imdecode(IMREAD_COLOR) -> BGR2GRAY -> GaussianBlur(5x5) -> Canny(100, 200).
"""

import cv2
import numpy as np

BLUR = 5
LOW = 100
HIGH = 200


def sample_png(seed: int, width: int = 192, height: int = 144) -> bytes:
    """A PNG with sharp shapes (clear edges) on a noisy gradient; each seed gives other bytes,
    so an upload is new to the service and really goes through the pipeline."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, width, dtype=np.float32)
    image = np.repeat(np.tile(ramp, (height, 1))[:, :, None], 3, axis=2)
    image += rng.normal(0, 6, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(12):
        x, y = int(rng.integers(0, width - 20)), int(rng.integers(0, height - 20))
        w, h = int(rng.integers(10, width // 2)), int(rng.integers(10, height // 2))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(image, (x, y), (x + w, y + h), color, thickness=-1)
    center = (int(rng.integers(20, width - 20)), int(rng.integers(20, height - 20)))
    cv2.circle(image, center, int(rng.integers(8, 30)), (255, 255, 255), thickness=3)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("OpenCV could not encode the sample image")
    return encoded.tobytes()


def expected_edges(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    blurred = cv2.GaussianBlur(gray, (BLUR, BLUR), 0)
    return cv2.Canny(blurred, LOW, HIGH)


def decode_edges(data: bytes) -> np.ndarray | None:
    """The pixels of an edge-map PNG as one 8-bit channel, or None if it is no image."""
    try:
        return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        return None
