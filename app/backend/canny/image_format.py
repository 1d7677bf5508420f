"""Which image an upload is, decided from its bytes, and its size read from the header alone.

Filenames and client content types are never trusted. Pillow's `Image.open` parses only
the header, so a small file declaring a huge canvas is refused before anything is
allocated for its pixels.

Rule for errors: bytes in a format we recognise but do not process (GIF, PDF, any other
format Pillow knows) answer 415; bytes that are no recognisable image answer 400.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from dataclasses import dataclass

from PIL import Image

from canny.errors import (
    InvalidImageError,
    TooManyPixelsError,
    TooManyScansError,
    UnsupportedMediaTypeError,
)


@dataclass(frozen=True)
class ImageFormat:
    name: str
    extension: str
    pillow_format: str
    media_type: str
    # Whether browsers show it in an <img>: Chromium, Firefox and Safari decode JPEG, PNG,
    # WebP and BMP, but only Safari TIFF (https://developer.mozilla.org/en-US/docs/Web/
    # Media/Guides/Formats/Image_types). Others get a PNG rendition for the gallery.
    browser_displayable: bool = True


JPEG = ImageFormat("jpeg", "jpg", "JPEG", "image/jpeg")
PNG = ImageFormat("png", "png", "PNG", "image/png")
WEBP = ImageFormat("webp", "webp", "WEBP", "image/webp")
BMP = ImageFormat("bmp", "bmp", "BMP", "image/bmp")
TIFF = ImageFormat("tiff", "tiff", "TIFF", "image/tiff", browser_displayable=False)
ACCEPTED_FORMATS = (JPEG, PNG, WEBP, BMP, TIFF)
EXTENSIONS = tuple(image_format.extension for image_format in ACCEPTED_FORMATS)
FORMAT_BY_NAME = {image_format.name: image_format for image_format in ACCEPTED_FORMATS}

_PDF_MAGIC = b"%PDF-"

# Progressive JPEGs from real encoders have about 10 scans (libjpeg's
# jpeg_simple_progression writes 10 for colour); libjpeg-turbo decodes every scan over
# the whole image, so 50,000 tiny scans keep a decoder busy for minutes. libjpeg-turbo
# added a scan limit for exactly this (TJPARAM_SCANLIMIT, src/turbojpeg.h, citing
# https://libjpeg-turbo.org/pmwiki/uploads/About/TwoIssueswiththeJPEGStandard.pdf) and its
# own fuzzer decodes with a limit of 100 (libjpeg-turbo/libjpeg-turbo fuzz/decompress.cc).
# OpenCV's imdecode sets no limit, so uploads are checked before decoding.
MAX_JPEG_SCANS = 100
# ITU-T T.81 Table B.1: markers without a length field (TEM, RST0-7, SOI, EOI).
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xDA)})
_SOS = 0xDA
_EOI = 0xD9
# In entropy-coded data 0xFF is followed by 0x00 (a stuffed byte), a restart marker
# (RST0-7, 0xD0-0xD7) or another 0xFF (fill); any other code is the marker that ends the
# scan (T.81 B.1.1.5, F.1.2.3). One regex search finds it in C, much cheaper than a
# byte-by-byte walk in Python (docs/performance-levers.md, "The JPEG scan counter in C").
_SCAN_END_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Between segments any code counts, RSTn included (libjpeg reads those as parameterless
# markers): the last 0xFF of a run, followed by neither 0x00 nor 0xFF. One byte of
# lookahead and no repetition, so a long run of 0xFF costs linear time, not quadratic.
_ANY_MARKER = re.compile(rb"\xff[^\x00\xff]")
_WARNINGS_LOCK = threading.Lock()


# The memory model the pixel limits and budget were set with (docs/api.md, Settings):
# about 9 bytes per pixel of an 8-bit colour image (its 3-byte decoded BGR image, grey,
# blurred and edge maps, Canny's gradients). A decoder of 16-bit or alpha samples holds
# its own buffer of those too before OpenCV converts it to 8-bit BGR, so such an image
# peaks above the model (measured: docs/performance-levers.md, Figures behind the code's
# design choices).
MODEL_BYTES_PER_PIXEL = 9
_OUTPUT_BYTES_PER_PIXEL = 3


@dataclass(frozen=True)
class ImageHeader:
    format: ImageFormat
    width: int
    height: int
    # Bytes per pixel of the decoder's own samples (channels x bytes per sample).
    sample_bytes: int = _OUTPUT_BYTES_PER_PIXEL

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def pixel_cost(self) -> int:
        """The pixels as 8-bit colour pixels of the same memory: what the pixel limit and
        budget count. 8-bit images up to 3 channels are decoded straight into OpenCV's
        output; wider samples (16-bit, alpha) need a buffer of their own first."""
        extra = self.sample_bytes if self.sample_bytes > _OUTPUT_BYTES_PER_PIXEL else 0
        return self.pixels * (MODEL_BYTES_PER_PIXEL + extra) // MODEL_BYTES_PER_PIXEL


def detect_format(data: bytes) -> ImageFormat:
    """Match the magic bytes of the accepted formats; explain anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"BM"):
        return BMP
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    unsupported = _recognised_format(data)
    if unsupported is not None:
        accepted = ", ".join(f.name.upper() for f in ACCEPTED_FORMATS)
        raise UnsupportedMediaTypeError(f"{unsupported} is not supported; send one of {accepted}")
    raise InvalidImageError("the file is not an image")


def _recognised_format(data: bytes) -> str | None:
    if data.startswith(_PDF_MAGIC):
        return "PDF"
    try:
        with _quiet_open(data, formats=None) as image:
            return image.format
    except Image.DecompressionBombError:
        return "this image format"
    except Exception:  # any parser failure on untrusted bytes just means "not recognised"
        return None


def read_header(data: bytes, max_pixels: int) -> ImageHeader:
    """Detect the format and refuse images with more than `max_pixels` before decoding."""
    image_format = detect_format(data)
    try:
        with _quiet_open(data, formats=[image_format.pillow_format]) as image:
            width, height = image.size
            sample_bytes = len(image.getbands()) * _bytes_per_sample(image, data)
    except Image.DecompressionBombError:
        raise TooManyPixelsError(f"the image declares more than {max_pixels} pixels") from None
    except Exception:  # any parser failure on untrusted bytes means a broken image
        raise InvalidImageError(
            f"the file is not a valid {image_format.name.upper()} image"
        ) from None
    header = ImageHeader(image_format, width, height, sample_bytes)
    check_pixel_limit(width, height, max_pixels)
    if header.pixels == 0:
        raise InvalidImageError("the image has no pixels")
    if header.pixel_cost > max_pixels:
        raise TooManyPixelsError(
            f"the image has {width}x{height} pixels of {sample_bytes} bytes each, which cost"
            f" the memory of {header.pixel_cost} 8-bit colour pixels; the limit is {max_pixels}"
        )
    if image_format is JPEG and count_jpeg_scans(data, MAX_JPEG_SCANS) > MAX_JPEG_SCANS:
        raise TooManyScansError(
            f"the JPEG has more than {MAX_JPEG_SCANS} scans; real encoders write far fewer"
        )
    return header


def _bytes_per_sample(image: Image.Image, data: bytes) -> int:
    """2 for 16-bit samples, else 1. Pillow's mode does not say it for colour PNGs (a
    16-bit RGBA PNG opens as "RGBA"), so PNG's IHDR bit depth (byte 24: PNG spec 11.2.2)
    and TIFF's BitsPerSample tag (258) are read instead."""
    if image.format == "PNG":
        return 2 if data[24] == 16 else 1
    if image.format == "TIFF":
        bits = image.tag_v2.get(258, (8,))
        return max(1, -(-max(bits if isinstance(bits, tuple) else (bits,)) // 8))
    return 2 if image.mode.startswith("I;16") else 1


def count_jpeg_scans(data: bytes, stop_after: int) -> int:
    """Count start-of-scan markers the way libjpeg finds them, stopping once past `stop_after`.

    Walks the marker segments (ITU-T T.81 B.1.1): each marker is 0xFF then a code, and
    all but the standalone ones carry a two-byte length that counts itself. After an SOS
    header comes entropy-coded data, in which 0xFF is followed by 0x00 (a stuffed byte)
    or a restart marker; the next other marker ends the scan (T.81 B.1.1.5, F.1.2.3).

    Between segments, libjpeg does not insist on a marker either: its next_marker()
    (jdmarker.c, libjpeg-turbo/libjpeg-turbo at 9046ae19) discards every byte up to the next
    0xFF, swallows 0xFF fill, drops 0xFF 0x00 pairs and takes the first other code as the
    marker, warning (JWRN_EXTRANEOUS_DATA) but decoding on. So does this walk: a counter
    that stopped at the first junk byte let a COM segment, one junk byte and 3,000 scans
    through the check (issue 28). Codes libjpeg refuses (reserved ones) make it stop
    decoding there, so treating them as segments can only count more, never fewer.
    """
    scans = 0
    position = 2  # after SOI
    while scans <= stop_after:
        marker = _ANY_MARKER.search(data, position)
        if marker is None:
            return scans
        code = data[marker.start() + 1]
        position = marker.end()
        if code == _EOI:
            return scans
        if code in _STANDALONE_MARKERS:
            continue
        # libjpeg's skip_variable() skips length - 2 bytes, nothing when the length is < 2.
        position += max(int.from_bytes(data[position : position + 2]), 2)
        if code == _SOS:
            scans += 1
            position = _next_marker(data, position)
    return scans


def _next_marker(data: bytes, position: int) -> int:
    """Where the entropy-coded data starting at `position` ends: its next real marker."""
    marker = _SCAN_END_MARKER.search(data, position)
    return len(data) if marker is None else marker.start()


def check_pixel_limit(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"the image has {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
        )


def _quiet_open(data: bytes, formats: list[str] | None) -> Image.Image:
    """Open lazily (header only), without Pillow's warnings.

    Our own pixel limit replaces Pillow's bomb warning (Pillow still raises for huge
    images), and warnings about corrupt metadata in uploads are not ours to print.
    """
    # catch_warnings swaps process-wide state; the lock keeps gunicorn's threads from
    # interleaving their save/restore (which could leave warnings ignored for good).
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Image.open(io.BytesIO(data), formats=formats)
