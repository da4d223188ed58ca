"""The ``classify`` task: an S3 key in, a result document out.

The body says what recognising an image is; its base (:class:`irs.worker.task.RecognitionTask`) does the
bookkeeping around it. Bad input never raises: it yields a document with ``status: error`` and a reason,
so it is answered once and never retried. AWS trouble is ridden out in the task first (for up to half its soft
time limit: an S3 outage of seconds costs no new message), and only then raised, for Celery to retry the
task with backoff.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from celery.signals import before_task_publish, celeryd_init, worker_init, worker_process_init, worker_process_shutdown

from irs import metrics
from irs.aws.clients import AWS_ERRORS, client, patiently
from irs.broker.app import app
from irs.contract import ROUTE, SENT_AT, TASK_NAME
from irs.inference.imaging import decode
from irs.inference.recognition import summary
from irs.inference.registry import resolve
from irs.routing.router import take_last
from irs.settings import get_settings
from irs.worker.images import read_image
from irs.worker.networks import networks
from irs.worker.task import RecognitionTask


@before_task_publish.connect
def _stamp_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """When it was sent, and why it went to its pool."""
    if headers is not None:
        headers.setdefault(SENT_AT, time.time())
        choice = take_last()
        if choice is not None:
            headers.setdefault(ROUTE, choice.as_header())


@celeryd_init.connect
def _add_lifecycle(instance: Any = None, **_: Any) -> None:
    """A worker, before its consumer is built, adds IRS's bootstep: fleet reports, draining, idle shutdown."""
    from irs.worker.lifecycle import Lifecycle

    instance.app.steps["consumer"].add(Lifecycle)


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


@app.task(bind=True, base=RecognitionTask, name=TASK_NAME,
          autoretry_for=AWS_ERRORS, retry_backoff=1, retry_backoff_max=30,
          retry_jitter=True, max_retries=5)
def classify(self: RecognitionTask, image_key: str, model: str | None = None) -> dict[str, Any]:
    """Classify the image at ``image_key`` in the input bucket with ``model`` (the worker's default when None:
    a built-in name, or a repository model's ``NAME[@version]``) and return its result document."""
    settings, run = get_settings(), self.current
    recognizer = networks().get(model)
    run.facts["model"] = recognizer.model_info
    with run.stage("download"):
        patience = time.monotonic() + settings.read_patience_s
        data, run.facts["source"] = patiently(lambda: read_image(image_key), patience, f"reading {image_key}")
    with run.stage("decode"):
        pixels, info = decode(data, settings.max_image_bytes, settings.max_image_pixels,
                              min_side=recognizer.input_size)
    with run.stage("inference"):
        detections = recognizer(pixels, size=(info.width, info.height))
    if settings.service_floor_ms:  # an emulated slow device, labelled as such in the document
        time.sleep(max(0.0, settings.service_floor_ms / 1000 - (time.time() - run.started)))
        run.facts["emulated"] = {"service_floor_ms": settings.service_floor_ms}
    named = run.facts["filename"] or image_key  # the name it was uploaded with, where it has one
    return run.answer(detections=[d.as_dict() for d in detections], summary=summary(named, detections),
                      image={"format": info.format, "width": info.width, "height": info.height, "bytes": info.bytes})
