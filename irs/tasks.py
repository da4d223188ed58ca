"""The ``classify`` task: an S3 key in, a result document out.

Bad input never raises: it yields a document with ``status: error`` and a
reason, so it is answered once and never retried. Only transient AWS errors
raise, and Celery retries those with backoff.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from celery import Task
from celery.signals import before_task_publish, worker_init, worker_process_init

from irs import aws
from irs.celery import app
from irs.imaging import BadImage, decode
from irs.models import resolve
from irs.recognition import get_recognizer, summary
from irs.results import error_document, iso, new_task_id
from irs.routing.router import ROUTE, take_last
from irs.settings import get_settings

logger = logging.getLogger(__name__)
SENT_AT = "irs_sent_at"  # message header: when the request was published (epoch seconds)
UPLOAD_MS = "irs_upload_ms"  # message header: how long the submitter took to upload the image


class ClassifyTask(Task):
    """Gives each request a task id that names its image (see :mod:`irs.results`)."""

    Request = "irs.lifecycle:TimedRequest"

    def apply_async(self, args: Any = None, kwargs: Any = None, task_id: str | None = None,
                    **options: Any) -> Any:
        if task_id is None:
            image_key = args[0] if args else (kwargs or {}).get("image_key")
            if isinstance(image_key, str) and image_key:
                task_id = new_task_id(image_key)
        return super().apply_async(args, kwargs, task_id=task_id, **options)


@before_task_publish.connect
def _stamp_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """When it was sent, and why it went to its pool."""
    if headers is not None:
        headers.setdefault(SENT_AT, time.time())
        choice = take_last()
        if choice is not None:
            headers.setdefault(ROUTE, choice.as_header())


@worker_init.connect
def _check_model(**_: Any) -> None:
    """Refuse to start a worker whose model is missing, instead of failing every task."""
    resolve(get_settings().model)


@worker_process_init.connect
def _load_model(**_: Any) -> None:
    """Load and warm the model and the S3 client once per process, before its first task."""
    recognizer = get_recognizer()
    recognizer(np.zeros((recognizer.input_size, recognizer.input_size, 3), dtype=np.uint8))
    aws.client("s3")


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
        raise BadImage(f"no image {relative!r} in this device's image directory {root}")
    size = path.stat().st_size
    if size > settings.max_image_bytes:
        raise BadImage(f"the image is {size:,} bytes, over the limit of {settings.max_image_bytes:,}")
    return path.read_bytes(), f"file://{path} on device {settings.device_id}"


def download(image_key: str) -> bytes:
    settings = get_settings()
    location = f"s3://{settings.input_bucket}/{image_key}"
    try:
        response = aws.client("s3").get_object(Bucket=settings.input_bucket, Key=image_key)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise BadImage(f"no image at {location}: upload it first, or check the key") from None
        if code in ("AccessDenied", "403"):
            raise BadImage(f"access denied reading {location}") from None
        raise
    size = response["ContentLength"]
    if size > settings.max_image_bytes:
        response["Body"].close()
        raise BadImage(f"the image is {size:,} bytes, over the limit of {settings.max_image_bytes:,}")
    data: bytes = response["Body"].read()
    return data


@app.task(bind=True, base=ClassifyTask, name="irs.tasks.classify",
          autoretry_for=(ClientError, BotoCoreError), retry_backoff=1, retry_backoff_max=30,
          retry_jitter=True, max_retries=5)
def classify(self: Task, image_key: str) -> dict[str, Any]:
    """Classify the image at ``image_key`` in the input bucket and return its result document."""
    settings = get_settings()
    started_at, started = iso(), time.time()
    sent_at = self.request.get(SENT_AT)
    timings: dict[str, float | None] = {
        "queue_wait": _ms(started - sent_at) if sent_at else None,
        "upload": self.request.get(UPLOAD_MS),
    }

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        begin = time.perf_counter()
        yield
        timings[name] = _ms(time.perf_counter() - begin)

    recognizer = get_recognizer()
    common: dict[str, Any] = {
        "model": recognizer.model_info, "pool": settings.pool_name, "routing": self.request.get(ROUTE),
        "worker": self.request.hostname or socket.gethostname(),
        "submitted_at": iso(sent_at) if sent_at else None, "started_at": started_at}
    try:
        with stage("download"):
            data, common["source"] = read_image(image_key)
        with stage("decode"):
            pixels, info = decode(data, settings.max_image_bytes, settings.max_image_pixels,
                                  min_side=recognizer.input_size)
        with stage("inference"):
            detections = recognizer(pixels, size=(info.width, info.height))
    except BadImage as error:
        logger.info("%s: %s", image_key, error)
        return error_document(image_key, self.request.id, str(error), **common,
                              timings_ms=timings, finished_at=iso())
    if settings.service_floor_ms:  # an emulated slow device, labelled as such in the document
        time.sleep(max(0.0, settings.service_floor_ms / 1000 - (time.time() - started)))
        common["emulated"] = {"service_floor_ms": settings.service_floor_ms}
    return {
        "image_key": image_key,
        "task_id": self.request.id,
        "status": "ok",
        "detections": [d.as_dict() for d in detections],
        "summary": summary(image_key, detections),
        "image": {"format": info.format, "width": info.width, "height": info.height, "bytes": info.bytes},
        **common,
        "timings_ms": timings,
        "finished_at": iso(),
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
