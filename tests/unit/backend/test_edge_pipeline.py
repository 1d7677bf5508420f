"""The service's pipeline must give exactly the pixels of the steps docs/api.md names, in cv2."""

import cv2
import numpy as np
import pytest
from canny import pipeline
from canny.edge_params import EdgeParams
from canny.errors import InvalidImageError
from PIL import Image

from tests.unit.backend import sample_images

IMAGES = {
    "shapes": sample_images.shapes(),
    "noise": sample_images.noise(),
    "gradient": sample_images.gradient(),
    "shapes-large": sample_images.shapes(640, 480, seed=7),
}


@pytest.mark.parametrize("image_format", ["png", "jpeg", "webp", "bmp", "tiff"])
@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize(
    "params",
    [EdgeParams(), EdgeParams(low=0, high=50, blur=1), EdgeParams(low=300, high=900, blur=15)],
)
def test_run_matches_direct_opencv(name: str, image_format: str, params: EdgeParams) -> None:
    data = sample_images.encode(IMAGES[name], image_format)
    result = pipeline.run(data, params)
    expected = sample_images.reference_edges(data, params.low, params.high, params.blur)
    edges = sample_images.decode_png(result.png)
    assert edges.dtype == np.uint8 and edges.ndim == 2, f"edge PNG decodes as {edges.dtype}"
    assert np.array_equal(edges, expected), f"{name}.{image_format} {params}: pixels differ"
    assert (result.width, result.height) == (expected.shape[1], expected.shape[0])


def test_encode_png_keeps_raw_canny_values() -> None:
    edges = sample_images.reference_edges(sample_images.encode(sample_images.shapes()))
    assert set(np.unique(edges)) == {0, 255}, "test image should have edges and background"
    decoded = sample_images.decode_png(pipeline.encode_png(edges))
    assert np.array_equal(decoded, edges), "PNG encode flags changed the edge pixels"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(sample_images.encode(sample_images.noise(), "jpeg")[:-200], id="cut-jpeg"),
        pytest.param(sample_images.encode(sample_images.noise(), "png")[:300], id="cut-png"),
        pytest.param(b"\xff\xd8\xff" + b"\x00" * 50, id="jpeg-magic-only"),
        # Cut mid-scan with the end marker put back: libjpeg only warns and fills grey.
        pytest.param(
            sample_images.encode(sample_images.noise(), "jpeg")[:2000] + b"\xff\xd9",
            id="cut-jpeg-with-eoi",
        ),
        pytest.param(
            sample_images.pillow_bytes(
                Image.fromarray(sample_images.noise()), "JPEG", progressive=True
            )[:4000]
            + b"\xff\xd9",
            id="cut-progressive-jpeg-with-eoi",
        ),
    ],
)
def test_decode_refuses_corrupt_data(data: bytes) -> None:
    with pytest.raises(InvalidImageError):
        pipeline.decode(data)


def test_the_view_of_a_huge_image_is_scaled_down_and_its_edges_are_not() -> None:
    """A 40 M pixel TIFF stored a 78.7 MB full-size view (issue 28)."""
    image = np.zeros((300, 9000, 3), np.uint8)
    image[:, ::100] = 255
    ok, tiff = cv2.imencode(".tiff", image)
    assert ok
    result = pipeline.run(tiff, EdgeParams(low=100, high=200, blur=5), with_view=True)
    assert result.view_png is not None
    view = cv2.imdecode(np.frombuffer(result.view_png, np.uint8), cv2.IMREAD_COLOR)
    assert view.shape == (137, pipeline.VIEW_MAX_SIDE, 3)
    assert (result.width, result.height) == (9000, 300), "the edge map keeps the full size"


def test_the_view_of_an_image_within_the_bound_is_pixel_for_pixel() -> None:
    image = sample_images.shapes()
    result = pipeline.run(
        sample_images.encode(image, "tiff"), EdgeParams(low=1, high=2, blur=3), with_view=True
    )
    assert result.view_png is not None
    assert np.array_equal(sample_images.decode_png(result.view_png), image)


def test_the_colour_image_is_not_held_through_the_blur_and_canny() -> None:
    """numpy reports its buffers, OpenCV's outputs included, to tracemalloc. Holding the
    3-byte colour image while the grey, blurred and edge maps (1 byte each) exist would
    peak at 6 bytes a pixel; letting it go after the grey copy peaks at 4 (colour + grey)."""
    import tracemalloc

    side = 2000
    data = sample_images.encode(sample_images.shapes(width=side, height=side), "png")
    tracemalloc.start()
    try:
        pipeline.run(data, EdgeParams(low=100, high=200, blur=5))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * side * side, f"peak {peak / side / side:.1f} bytes per pixel"
