"""The scan count follows libjpeg past junk bytes between segments.

libjpeg's next_marker() (jdmarker.c) skips any bytes up to the next 0xFF and decodes on,
so a counter that stopped at the first junk byte let a COM segment, one junk byte and
3,000 scans through the scan-bomb check (issue 28).
"""

import re

import cv2
import numpy as np
import pytest
from canny.errors import TooManyScansError
from canny.image_format import MAX_JPEG_SCANS, count_jpeg_scans, read_header
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.unit.backend import sample_images

_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
COLOUR_PROGRESSIVE = sample_images.pillow_bytes(
    Image.fromarray(sample_images.noise(64, 48)), "JPEG", progressive=True
)
COMMENT = b"\xff\xfe\x00\x06junk"


def marker_offsets(data: bytes) -> list[int]:
    """Where each marker of a well-formed JPEG starts, by the strict T.81 walk: segments
    by their lengths, a scan's data up to its first marker other than RSTn."""
    offsets, position = [], 2
    while data[position + 1] != 0xD9:
        offsets.append(position)
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4])
        position = _SCAN_END.search(data, end).start() if data[position + 1] == 0xDA else end
    return [*offsets, position]


def with_junk(data: bytes, junk: list[bytes]) -> bytes:
    """`data` with junk[i] inserted before its i-th marker (junk past the list: none)."""
    pieces, previous = [], 0
    for offset, extra in zip(marker_offsets(data), junk, strict=False):
        pieces += [data[previous:offset], extra]
        previous = offset
    return b"".join([*pieces, data[previous:]])


# What libjpeg discards between markers: any bytes but 0xFF, and 0xFF 0x00 pairs.
JUNK = st.lists(
    st.lists(
        st.integers(0, 0xFE).map(lambda byte: bytes([byte])) | st.just(b"\xff\x00"), max_size=4
    ).map(b"".join),
    max_size=16,
)


@given(junk=JUNK)
def test_junk_between_segments_does_not_hide_scans(junk: list[bytes]) -> None:
    assert count_jpeg_scans(with_junk(COLOUR_PROGRESSIVE, junk), 10_000) == 10


def test_libjpeg_decodes_a_file_with_junk_between_segments() -> None:
    """The premise of the property: OpenCV's libjpeg reads past the junk, warning only.
    (Junk straight after SOI is no JPEG to libjpeg's first_marker(), nor to detect_format.)"""
    data = with_junk(COLOUR_PROGRESSIVE, [b"", *[b"\x00\x12"] * 16])
    assert count_jpeg_scans(data, 10_000) == 10
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (48, 64, 3)


def test_a_comment_and_one_junk_byte_before_a_scan_bomb_is_still_refused() -> None:
    """The probe's bypass: COM, one junk byte, then MAX_JPEG_SCANS + 1 scans."""
    bomb = sample_images.scan_bomb_jpeg(MAX_JPEG_SCANS + 1, 64, 48)
    first_scan = bomb.index(b"\xff\xda")
    bypass = bomb[:first_scan] + COMMENT + b"\x00" + bomb[first_scan:]
    with pytest.raises(TooManyScansError):
        read_header(bypass, 40_000_000)
