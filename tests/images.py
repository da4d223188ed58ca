"""Test images made on the fly: valid, broken and hostile ones."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image


def png(width: int = 64, height: int = 48) -> bytes:
    ok, data = cv2.imencode(".png", np.full((height, width, 3), 200, dtype=np.uint8))
    assert ok
    return data.tobytes()


def gradient(width: int, height: int, ext: str = ".jpg") -> bytes:
    """A large but small-on-disk image. As a PNG it is slow to decode (no reduced-scale decoding)."""
    row = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)
    ok, data = cv2.imencode(ext, pixels)
    assert ok
    return data.tobytes()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's calling card)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")


def truncated(data: bytes, keep: int) -> bytes:
    return data[:keep]


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "GIF")
    return out.getvalue()
