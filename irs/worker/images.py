"""Where the task reads an image from: the input bucket, or, on an edge device, the device's own disk."""

from __future__ import annotations

from irs.aws.clients import client, error_code
from irs.inference.imaging import BadImage
from irs.results import ErrorKind
from irs.settings import get_settings


def device_prefix() -> str | None:
    """Keys under this prefix name images on this device, read where they are (see :func:`read_local`)."""
    settings = get_settings()
    return f"uploads/devices/{settings.device_id}/" if settings.device_id and settings.local_image_dir else None


def read_image(image_key: str) -> tuple[bytes, str]:
    """The image's bytes and where they came from: this device's own disk, or the input bucket."""
    prefix = device_prefix()
    if prefix and image_key.startswith(prefix):
        return read_local(image_key.removeprefix(prefix))
    settings = get_settings()
    return download(image_key), f"s3://{settings.input_bucket}/{image_key}"


def read_local(relative: str) -> tuple[bytes, str]:
    """A file in the device's image directory; nothing outside it, whatever the key says."""
    settings = get_settings()
    assert settings.local_image_dir is not None
    root = settings.local_image_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise BadImage(f"no image {relative!r} in this device's image directory {root}", ErrorKind.MISSING)
    size = path.stat().st_size
    if size > settings.max_image_bytes:
        raise BadImage(f"the image is {size:,} bytes, over the limit of {settings.max_image_bytes:,}",
                       ErrorKind.TOO_LARGE)
    return path.read_bytes(), f"file://{path} on device {settings.device_id}"


def download(image_key: str) -> bytes:
    """The image from the input bucket; BadImage when it is missing, forbidden or too large."""
    settings = get_settings()
    location = f"s3://{settings.input_bucket}/{image_key}"
    try:
        response = client("s3").get_object(Bucket=settings.input_bucket, Key=image_key)
    except Exception as error:
        code = error_code(error)
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise BadImage(f"no image at {location}: upload it first, or check the key", ErrorKind.MISSING) from None
        if code in ("AccessDenied", "403"):
            raise BadImage(f"access denied reading {location}", ErrorKind.FORBIDDEN) from None
        raise
    size = response["ContentLength"]
    if size > settings.max_image_bytes:
        response["Body"].close()
        raise BadImage(f"the image is {size:,} bytes, over the limit of {settings.max_image_bytes:,}",
                       ErrorKind.TOO_LARGE)
    data: bytes = response["Body"].read()
    return data
