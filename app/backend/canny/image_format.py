"""Which image an upload is, decided from its bytes, and its size read from the header alone.

Filenames and client content types are never trusted. Pillow's `Image.open` parses only
the header, so a small file declaring a huge canvas is refused before anything is
allocated for its pixels.

Rule for errors: bytes in a format we recognise but do not process (GIF, PDF, any other
format Pillow knows) answer 415; bytes that are no recognisable image answer 400.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass

from PIL import Image

from canny.errors import InvalidImageError, TooManyPixelsError, UnsupportedMediaTypeError


@dataclass(frozen=True)
class ImageFormat:
    name: str
    extension: str
    pillow_format: str
    media_type: str


JPEG = ImageFormat("jpeg", "jpg", "JPEG", "image/jpeg")
PNG = ImageFormat("png", "png", "PNG", "image/png")
WEBP = ImageFormat("webp", "webp", "WEBP", "image/webp")
BMP = ImageFormat("bmp", "bmp", "BMP", "image/bmp")
TIFF = ImageFormat("tiff", "tiff", "TIFF", "image/tiff")
ACCEPTED_FORMATS = (JPEG, PNG, WEBP, BMP, TIFF)
EXTENSIONS = tuple(image_format.extension for image_format in ACCEPTED_FORMATS)
FORMAT_BY_NAME = {image_format.name: image_format for image_format in ACCEPTED_FORMATS}

_PDF_MAGIC = b"%PDF-"
_WARNINGS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageHeader:
    format: ImageFormat
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


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
    except Image.DecompressionBombError:
        raise TooManyPixelsError(f"the image declares more than {max_pixels} pixels") from None
    except Exception:  # any parser failure on untrusted bytes means a broken image
        raise InvalidImageError(
            f"the file is not a valid {image_format.name.upper()} image"
        ) from None
    header = ImageHeader(image_format, width, height)
    check_pixel_limit(width, height, max_pixels)
    if header.pixels == 0:
        raise InvalidImageError("the image has no pixels")
    return header


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
