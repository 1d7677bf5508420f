"""Memory by bytes, not pixels (issue 28): a 16-bit RGBA image costs more than an 8-bit
one of the same size, in the pixel limit and in the pixel budget alike."""

import io

import cv2
import numpy as np
import pytest
from canny.errors import TooManyPixelsError
from canny.image_format import read_header
from canny.pipeline_runner import PipelineRunner
from flask.testing import FlaskClient

from tests.unit.backend import sample_images

MAX_PIXELS = 40_000_000


def encoded(shape: tuple[int, ...], dtype: type, extension: str) -> bytes:
    ok, data = cv2.imencode(extension, np.zeros(shape, dtype))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(
    ("data", "sample_bytes", "cost"),
    [
        (encoded((30, 30, 3), np.uint8, ".png"), 3, 900),
        (encoded((30, 30, 3), np.uint8, ".tiff"), 3, 900),
        (encoded((30, 30), np.uint16, ".png"), 2, 900),
        (encoded((30, 30, 4), np.uint8, ".png"), 4, 900 * 13 // 9),
        (encoded((30, 30, 4), np.uint16, ".png"), 8, 900 * 17 // 9),
        (encoded((30, 30, 4), np.uint16, ".tiff"), 8, 900 * 17 // 9),
        (encoded((30, 30, 3), np.uint16, ".tiff"), 6, 900 * 15 // 9),
        (sample_images.encode(sample_images.shapes(30, 30), "jpeg"), 3, 900),
    ],
    ids=[
        "rgb8-png",
        "rgb8-tiff",
        "grey16-png",
        "rgba8-png",
        "rgba16-png",
        "rgba16-tiff",
        "rgb16-tiff",
        "jpeg",
    ],
)
def test_the_cost_counts_channels_and_bytes_per_sample(
    data: bytes, sample_bytes: int, cost: int
) -> None:
    header = read_header(data, MAX_PIXELS)
    assert (header.sample_bytes, header.pixel_cost) == (sample_bytes, cost)


def test_a_16_bit_rgba_canvas_within_the_pixel_limit_is_refused_for_its_memory() -> None:
    """The probe's 6324x6324 RGBA 16-bit TIFF passed the 40 M pixel limit and peaked at
    520 MB against 360 MB for 40 M 8-bit pixels."""
    assert read_header(sample_images.png_declaring(6324, 6324, 8, 2), MAX_PIXELS)
    with pytest.raises(TooManyPixelsError, match="8-bit colour pixels"):
        read_header(sample_images.png_declaring(6324, 6324, 16, 6), MAX_PIXELS)


def test_the_pipeline_reserves_the_cost_not_the_pixels(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    reserved: list[int] = []
    real_run = PipelineRunner.run

    def recording(self: PipelineRunner, data: bytes, params: object, pixels: int, *rest: object):
        reserved.append(pixels)
        return real_run(self, data, params, pixels, *rest)

    monkeypatch.setattr(PipelineRunner, "run", recording)
    data = encoded((30, 40, 4), np.uint16, ".png")
    response = client.post("/api/images", data={"file": (io.BytesIO(data), "a.png")})
    assert response.status_code == 201, response.get_json()
    assert reserved == [1200 * 17 // 9]
