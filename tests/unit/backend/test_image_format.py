"""Formats are decided from bytes, and the pixel limit is applied from the header alone."""

import struct

import pytest
from canny import image_format
from canny.errors import (
    InvalidImageError,
    TooManyPixelsError,
    TooManyScansError,
    UnsupportedMediaTypeError,
)
from canny.image_format import MAX_JPEG_SCANS, count_jpeg_scans, detect_format, read_header
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.unit.backend import sample_images


@pytest.mark.parametrize("image_format", ["jpeg", "png", "webp", "bmp", "tiff"])
def test_accepted_formats_are_detected_with_their_size(image_format: str) -> None:
    data = sample_images.encode(sample_images.noise(97, 61), image_format)
    header = read_header(data, max_pixels=10_000)
    assert header.format.name == image_format
    assert (header.width, header.height) == (97, 61)


def test_big_endian_tiff_is_detected() -> None:
    header = read_header(_big_endian_tiff(), max_pixels=100)
    assert (header.format.name, header.width, header.height) == ("tiff", 1, 1)


def _big_endian_tiff() -> bytes:
    """Minimal 1x1 grey big-endian TIFF (Pillow writes little-endian by default)."""
    entries = [
        (256, 3, 1, 1 << 16),  # width
        (257, 3, 1, 1 << 16),  # height
        (258, 3, 1, 8 << 16),  # bits per sample
        (259, 3, 1, 1 << 16),  # no compression
        (262, 3, 1, 1 << 16),  # black is zero
        (273, 4, 1, 8),  # strip offset: the pixel right after the header
        (277, 3, 1, 1 << 16),  # samples per pixel
        (278, 3, 1, 1 << 16),  # rows per strip
        (279, 4, 1, 1),  # strip byte count
    ]
    ifd = struct.pack(">H", len(entries))
    ifd += b"".join(struct.pack(">HHII", *entry) for entry in entries) + b"\x00" * 4
    return b"MM\x00*" + struct.pack(">I", 12) + b"\x80\x00\x00\x00" + ifd


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (sample_images.pillow_bytes(Image.new("RGB", (4, 4)), "GIF"), "GIF"),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "PDF"),
        (sample_images.pillow_bytes(Image.new("RGB", (16, 16)), "ICO"), "ICO"),
    ],
)
def test_recognised_unsupported_formats_are_415(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match=name):
        detect_format(data)


def _gif_declaring_65535_squared() -> bytes:
    screen = b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00"
    return screen + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


def test_huge_image_in_an_unsupported_format_is_415_not_a_crash() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        detect_format(_gif_declaring_65535_squared())


def _tiff_with_oversized_tag() -> bytes:
    """A TIFF whose last tag claims more data than the file holds (Pillow warns on it)."""
    data = bytearray(sample_images.encode(sample_images.shapes(8, 8), "tiff"))
    directory = struct.unpack("<I", data[4:8])[0]
    entries = struct.unpack("<H", data[directory : directory + 2])[0]
    last_count = directory + 2 + 12 * (entries - 1) + 4
    data[last_count : last_count + 4] = struct.pack("<I", 1_000_000)
    return bytes(data)


def test_corrupt_metadata_warnings_do_not_escape() -> None:
    """pytest turns warnings into errors here, so a leaked Pillow warning fails this test."""
    header = read_header(_tiff_with_oversized_tag(), max_pixels=100)
    assert (header.width, header.height) == (8, 8)


@pytest.mark.parametrize(
    "data",
    [
        b"hello, I am a text file named photo.jpg\n",
        b"\x00\x01\x02\x03" * 64,
        b"BM but not a bitmap",
        b"\xff\xd8\xff\xe0 header of a jpeg and then nothing",
    ],
)
def test_non_images_are_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImageError):
        read_header(data, max_pixels=1_000_000)


@pytest.mark.parametrize(
    ("width", "height"),
    [(100_000, 100_000), (10_000, 4_001), (40_001, 1_000)],
)
def test_pixel_limit_is_checked_from_the_header(width: int, height: int) -> None:
    bomb = sample_images.png_declaring(width, height)
    assert len(bomb) < 200, "the bomb must be tiny for this test to mean anything"
    with pytest.raises(TooManyPixelsError):
        read_header(bomb, max_pixels=40_000_000)


def test_image_at_the_pixel_limit_passes() -> None:
    header = read_header(sample_images.png_declaring(8_000, 5_000), max_pixels=40_000_000)
    assert header.pixels == 40_000_000


@pytest.mark.parametrize(
    ("data", "scans"),
    [
        (sample_images.encode(sample_images.shapes(), "jpeg"), 1),
        (sample_images.progressive_jpeg(64, 48), 6),
        (sample_images.pillow_bytes(Image.new("RGB", (64, 48)), "JPEG", progressive=True), 10),
        (sample_images.scan_bomb_jpeg(MAX_JPEG_SCANS, 64, 48), MAX_JPEG_SCANS),
    ],
    ids=["baseline", "progressive-grey", "progressive-colour", "at-the-limit"],
)
def test_jpeg_scans_are_counted_from_the_markers(data: bytes, scans: int) -> None:
    assert count_jpeg_scans(data, 10_000) == scans
    read_header(data, 40_000_000)


def test_scan_counting_skips_stuffed_bytes_and_restart_markers() -> None:
    """Entropy-coded data full of 0xFF00 and RSTn must not end a scan early or add one."""
    noisy = sample_images.noise(256, 256)
    data = sample_images.pillow_bytes(
        Image.fromarray(noisy), "JPEG", progressive=True, quality=95, restart_marker_blocks=1
    )
    assert b"\xff\x00" in data and b"\xff\xd0" in data
    assert count_jpeg_scans(data, 10_000) == 10


def test_a_jpeg_with_more_scans_than_the_limit_is_refused() -> None:
    with pytest.raises(TooManyScansError, match=f"more than {MAX_JPEG_SCANS} scans"):
        read_header(sample_images.scan_bomb_jpeg(MAX_JPEG_SCANS + 1, 64, 48), 40_000_000)


def test_counting_stops_just_past_the_limit() -> None:
    assert count_jpeg_scans(sample_images.scan_bomb_jpeg(50_000, 64, 48), 100) == 101


def scan_end_by_byte(data: bytes, position: int) -> int:
    """T.81 B.1.1.5 read one byte at a time: 0xFF then 0x00, RST0-7 or 0xFF (fill) stays
    inside the scan; 0xFF then any other code is the marker that ends it."""
    for index in range(position, len(data) - 1):
        if data[index] == 0xFF and data[index + 1] not in (0x00, 0xFF, *range(0xD0, 0xD8)):
            return index
    return len(data)


# Bytes drawn mostly from the codes that matter at a scan's end.
_SCAN_BYTES = st.binary(max_size=64) | st.lists(
    st.sampled_from([0x00, 0x12, 0xD0, 0xD7, 0xD8, 0xD9, 0xDA, 0xC4, 0xFF]), max_size=64
).map(bytes)


@given(data=_SCAN_BYTES, start=st.integers(min_value=0, max_value=64))
def test_a_scan_ends_at_the_first_real_marker(data: bytes, start: int) -> None:
    position = min(start, len(data))
    assert image_format._next_marker(data, position) == scan_end_by_byte(data, position)
