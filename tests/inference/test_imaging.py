"""Untrusted bytes are refused with a reason a person can act on, before any large allocation."""

from __future__ import annotations

import pytest

from irs.inference.imaging import BadImage, decode
from tests import images

LIMITS = {"max_bytes": 1_000_000, "max_pixels": 5_000_000}


def refusal(data: bytes) -> str:
    with pytest.raises(BadImage) as caught:
        decode(data, **LIMITS)
    return str(caught.value)


def test_a_valid_png_decodes_to_pixels() -> None:
    pixels, info = decode(images.png(64, 48), **LIMITS)
    assert pixels.shape == (48, 64, 3) and (info.width, info.height, info.format) == (64, 48, "png")


def test_empty_input_is_refused() -> None:
    assert "empty" in refusal(b"")


def test_text_is_not_an_image() -> None:
    assert "not an image" in refusal(b"hello, this is not a picture")


def test_a_header_claiming_30000_by_30000_is_refused_without_decoding() -> None:
    message = refusal(images.png_claiming(30000, 30000))
    assert "30000x30000" in message and "pixel" in message


def test_too_many_bytes_is_refused() -> None:
    assert "over the limit" in refusal(b"\xff\xd8" + b"\0" * 1_000_001)


@pytest.mark.parametrize("keep", [600, 20_000])
def test_a_truncated_image_is_refused(photo, keep: int) -> None:  # type: ignore[no-untyped-def]
    assert "corrupt or truncated" in refusal(images.truncated(photo("dog.jpg"), keep))


def test_a_format_opencv_cannot_read_is_refused() -> None:
    assert "unsupported image format GIF" in refusal(images.gif())


def test_a_large_jpeg_is_decoded_at_reduced_scale_but_never_below_the_network_input() -> None:
    data = images.gradient(4000, 3000)
    pixels, info = decode(data, 10**8, 10**8, min_side=320)
    assert (info.width, info.height) == (4000, 3000)
    assert pixels.shape[:2] == (375, 500)  # 1/8 scale: 375 >= 320, while 1/16 does not exist


def test_an_image_near_the_network_input_is_decoded_at_full_scale(photo) -> None:  # type: ignore[no-untyped-def]
    pixels, info = decode(photo("dog.jpg"), 10**8, 10**8, min_side=320)
    assert pixels.shape[:2] == (576, 768)  # 576 / 2 = 288 would be under 320
