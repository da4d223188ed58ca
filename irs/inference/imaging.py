"""Turning untrusted bytes into a pixel array, within limits.

The header is read first (by Pillow, which reads only the header here), so a
small file that claims 30000x30000 pixels is refused before a single pixel is
allocated; OpenCV then does the real decode, which is faster.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from irs.results import ErrorKind

Image.MAX_IMAGE_PIXELS = None  # IRS applies its own pixel limit, with a message that gives the numbers

#: Formats both the header check and OpenCV's decoder handle.
FORMATS = frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF", "PPM"})


class BadImage(ValueError):
    """The input cannot be classified; the message says why, for a person to act on."""

    def __init__(self, message: str, kind: ErrorKind) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    bytes: int


def inspect(data: bytes, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check size, format and dimensions from the header alone."""
    return inspect_stream(io.BytesIO(data), len(data), max_bytes, max_pixels)


def inspect_stream(stream: BinaryIO, size: int, max_bytes: int, max_pixels: int) -> ImageInfo:
    """:func:`inspect` for an image in a file: only its header is read, and the file is rewound."""
    if not size:
        raise BadImage("the image is empty (0 bytes)", ErrorKind.EMPTY)
    if size > max_bytes:
        raise BadImage(f"the image is {size:,} bytes, over the limit of {max_bytes:,}", ErrorKind.TOO_LARGE)
    try:
        stream.seek(0)
        with Image.open(stream) as header:
            fmt, (width, height) = header.format or "", header.size
    except UnidentifiedImageError:
        raise BadImage("not an image in a known format (the first bytes match no image type)",
                       ErrorKind.NOT_AN_IMAGE) from None
    except (OSError, ValueError, SyntaxError) as error:
        raise BadImage(f"the image header is corrupt or truncated ({error})", ErrorKind.CORRUPT) from None
    if fmt not in FORMATS:
        raise BadImage(f"unsupported image format {fmt}; use one of {', '.join(sorted(FORMATS))}",
                       ErrorKind.UNSUPPORTED_FORMAT)
    if width * height > max_pixels:
        raise BadImage(f"the image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}",
                       ErrorKind.TOO_MANY_PIXELS)
    stream.seek(0)
    return ImageInfo(format=fmt.lower(), width=width, height=height, bytes=size)


_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def reduction(info: ImageInfo, min_side: int | None) -> int:
    """How far a JPEG can be scaled down while decoding and still cover ``min_side`` on both axes.

    The network sees ``min_side`` pixels a side however large the photo, so decoding a
    12-megapixel JPEG at 1/8 scale (in the DCT, which is cheap) loses nothing it would use.
    """
    if info.format != "jpeg" or not min_side:
        return 1
    return max((r for r in _REDUCED if min(info.width, info.height) // r >= min_side), default=1)


def decode(data: bytes, max_bytes: int, max_pixels: int, min_side: int | None = None
           ) -> tuple[np.ndarray, ImageInfo]:
    """Decode to a BGR array, or raise BadImage; see :func:`reduction` for ``min_side``."""
    info = inspect(data, max_bytes, max_pixels)
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _REDUCED[reduction(info, min_side)])
    if pixels is None:
        raise BadImage(f"the {info.format.upper()} data is corrupt or truncated and could not be decoded",
                       ErrorKind.CORRUPT)
    return pixels, info
