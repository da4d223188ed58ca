"""Accepting uploads: check every file by its content, store it under a key the server makes, enqueue it.

A request is all or nothing: if any file is bad, nothing is stored or
enqueued, and the answer names each bad file and why. The user's file name is
kept only as a label in the response; the key is ``uploads/web/<time>-<random>/
<n>.<format>``, so names can neither collide nor reach another prefix, and
results list in the order they were uploaded.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from irs import aws
from irs.celery import app
from irs.imaging import BadImage, ImageInfo, inspect
from irs.settings import get_settings
from irs.tasks import UPLOAD_MS, classify
from irs.transport import SQS_BATCH

WEB_PREFIX = "uploads/web/"
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "bmp": "bmp", "webp": "webp", "tiff": "tif", "ppm": "ppm"}
_uploader = ThreadPoolExecutor(max_workers=8, thread_name_prefix="irs-upload")


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Accepted:
    filename: str
    request_id: str
    image_key: str
    image: ImageInfo


class Rejected(Exception):
    """Bad uploads: ``problems`` maps each file name to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in problems.items()))
        self.problems = problems


def check(files: list[Upload]) -> list[ImageInfo]:
    """Every file's header, or :class:`Rejected` naming each file that is not an acceptable image."""
    settings = get_settings()
    infos, problems = [], {}
    for n, upload in enumerate(files):
        try:
            infos.append(inspect(upload.data, settings.max_image_bytes, settings.max_image_pixels))
        except BadImage as error:
            problems[upload.filename or f"file {n + 1}"] = str(error)
    if problems:
        raise Rejected(problems)
    return infos


def accept(files: list[Upload]) -> list[Accepted]:
    """Check, store and enqueue every file; the router picks each one's pool."""
    infos = check(files)
    batch = f"{WEB_PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(6)}/"
    keys = [f"{batch}{n:04d}.{_EXTENSIONS[info.format]}" for n, info in enumerate(infos)]
    bucket = get_settings().input_bucket

    def put(upload: Upload, key: str) -> float:
        begin = time.perf_counter()
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=upload.data)
        return round((time.perf_counter() - begin) * 1000, 2)

    upload_ms = list(_uploader.map(put, files, keys))
    accepted = []
    with app.producer_or_acquire() as producer:
        for start in range(0, len(keys), SQS_BATCH):
            with producer.channel.batched_sends():
                results = [classify.apply_async((key,), headers={UPLOAD_MS: ms}, producer=producer)
                           for key, ms in zip(keys[start:start + SQS_BATCH], upload_ms[start:], strict=False)]
            accepted += [Accepted(files[start + n].filename, result.id, keys[start + n], infos[start + n])
                         for n, result in enumerate(results)]
    return accepted
