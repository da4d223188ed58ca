"""The ``classify`` task: an S3 key in, a result document out.

Bad input never raises: it yields a document with ``status: error`` and a
reason, so it is answered once and never retried. AWS trouble is ridden out
in the task first (for up to half its time limit: an S3 outage of seconds
costs no new message), and only then raised, for Celery to retry the task
with backoff.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from celery import Task
from celery.signals import before_task_publish, worker_init, worker_process_init, worker_process_shutdown

from irs.aws.clients import AWS_ERRORS, client, patiently
from irs.broker.app import app
from irs.contract import ROUTE, SENT_AT, TASK_NAME, UPLOAD_MS, BadCall, call_of, with_model
from irs.inference.imaging import BadImage, decode
from irs.inference.recognition import summary
from irs.inference.registry import ModelError, resolve
from irs.repository.store import pin
from irs.results import error_document, fitted, iso, new_task_id
from irs.routing.router import take_last
from irs.settings import get_settings
from irs.worker import metrics
from irs.worker.images import read_image
from irs.worker.networks import networks

logger = logging.getLogger(__name__)


class ClassifyTask(Task):
    """Gives each request a task id that names its image (see :mod:`irs.results`)."""

    Request = "irs.worker.lifecycle:TimedRequest"

    def apply_async(self, args: Any = None, kwargs: Any = None, task_id: str | None = None,
                    **options: Any) -> Any:
        """Name the task after its image, and pin a repository model to the version it means now (raising
        :class:`~irs.repository.store.NotFound` at once for a model that does not exist)."""
        try:
            call = call_of(list(args or ()), dict(kwargs or {}))
        except BadCall:  # sent as it is, for the worker to refuse with its reason
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        if task_id is None and isinstance(call.image_key, str) and call.image_key:
            task_id = new_task_id(call.image_key)
        if isinstance(call.model, str):
            args, kwargs = with_model(args, kwargs, pin(call.model, get_settings()))
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
def _start_worker(**_: Any) -> None:
    """Refuse to start a worker whose model is missing, instead of failing every task; serve its metrics."""
    settings = get_settings()
    resolve(settings.model)
    if settings.worker_metrics:
        metrics.start(settings.worker_metrics)


@worker_process_init.connect
def _load_model(**_: Any) -> None:
    """Load and warm the model and the S3 client once per process, before its first task."""
    recognizer = networks().get(None)
    recognizer(np.zeros((recognizer.input_size, recognizer.input_size, 3), dtype=np.uint8))
    client("s3")


@worker_process_shutdown.connect
def _forget_process(pid: int | None = None, **_: Any) -> None:
    metrics.process_exited(pid or os.getpid())


@app.task(bind=True, base=ClassifyTask, name=TASK_NAME,
          autoretry_for=AWS_ERRORS, retry_backoff=1, retry_backoff_max=30,
          retry_jitter=True, max_retries=5)
def classify(self: Task, image_key: str, model: str | None = None) -> dict[str, Any]:
    """Classify the image at ``image_key`` in the input bucket with ``model`` (the worker's default when None:
    a built-in name, or a repository model's ``NAME[@version]``) and return its result document."""
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

    common: dict[str, Any] = {
        "pool": settings.pool_name, "routing": self.request.get(ROUTE),
        "worker": self.request.hostname or socket.gethostname(),
        "submitted_at": iso(sent_at) if sent_at else None, "started_at": started_at}

    def answered_with_error(reason: str, kind: str) -> dict[str, Any]:
        """An error result, answered once and never retried: bad input, or a model this worker cannot have."""
        document = fitted(error_document(image_key, self.request.id, reason, kind, **common, timings_ms=timings,
                                         finished_at=iso()))
        metrics.observe_result(document)
        return document

    try:
        recognizer = networks().get(model)
    except ModelError as error:
        logger.warning("%s: model %s: %s", image_key, model, error)
        return answered_with_error(f"model {model}: {error}", "model_unavailable")
    common["model"] = recognizer.model_info
    try:
        with stage("download"):
            patience = time.monotonic() + settings.task_time_limit / 2
            data, common["source"] = patiently(lambda: read_image(image_key), patience, f"reading {image_key}")
        with stage("decode"):
            pixels, info = decode(data, settings.max_image_bytes, settings.max_image_pixels,
                                  min_side=recognizer.input_size)
        with stage("inference"):
            detections = recognizer(pixels, size=(info.width, info.height))
    except BadImage as error:
        logger.info("%s: %s", image_key, error)
        return answered_with_error(str(error), error.kind.value)
    if settings.service_floor_ms:  # an emulated slow device, labelled as such in the document
        time.sleep(max(0.0, settings.service_floor_ms / 1000 - (time.time() - started)))
        common["emulated"] = {"service_floor_ms": settings.service_floor_ms}
    document = {
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
    document = fitted(document)
    metrics.observe_result(document)
    return document


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
