"""Where the task reads an image from: the input bucket, a source bucket the deployment allows (an
``s3://BUCKET/KEY`` key), or, on an edge device, the device's own disk."""

from __future__ import annotations

from irs.aws import s3_answers
from irs.aws.clients import AWS_ERRORS, client, error_code
from irs.inference.imaging import BadImage
from irs.results import ErrorKind
from irs.settings import get_settings
from irs.sources import BadLocation, Location, NotASource, is_url, readable


def device_prefix() -> str | None:
    """Keys under this prefix name images on this device, read where they are (see :func:`read_local`)."""
    settings = get_settings()
    return f"uploads/devices/{settings.device_id}/" if settings.device_id and settings.local_image_dir else None


def read_image(image_key: str) -> tuple[bytes, str]:
    """The image's bytes and where they came from: this device's own disk, or the input bucket."""
    prefix = device_prefix()
    if prefix and image_key.startswith(prefix):
        return read_local(image_key.removeprefix(prefix))
    location = source(image_key) if is_url(image_key) else Location(get_settings().input_bucket, image_key)
    return download(location), str(location)


def source(url: str) -> Location:
    """The object an ``s3://`` key names, if this deployment may read it (``IRS_SOURCE_BUCKETS``)."""
    try:
        return readable(url, get_settings().sources)
    except NotASource as error:
        raise BadImage(str(error), ErrorKind.FORBIDDEN) from None
    except BadLocation as error:
        raise BadImage(str(error), ErrorKind.MISSING) from None


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


def download(location: Location) -> bytes:
    """The image from S3; BadImage when S3's answer is permanent (:mod:`irs.aws.s3_answers`) or the image is too
    large; a transient answer is raised, for the caller's patience."""
    settings = get_settings()
    try:
        response = client("s3").get_object(Bucket=location.bucket, Key=location.key)
    except AWS_ERRORS as error:
        answer = s3_answers.permanent(error)
        if answer is None:
            raise
        raise BadImage(answer.says.format(where=location, code=error_code(error)), answer.kind) from None
    size = response["ContentLength"]
    if size > settings.max_image_bytes:
        response["Body"].close()
        raise BadImage(f"the image is {size:,} bytes, over the limit of {settings.max_image_bytes:,}",
                       ErrorKind.TOO_LARGE)
    data: bytes = response["Body"].read()
    return data
