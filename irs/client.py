"""Submitting images and collecting their results: what ``irs classify`` and the benchmark use.

Each file is uploaded to the input bucket under a fresh batch prefix, then its
task is enqueued with the key alone, ten tasks to a SendMessageBatch. Results
are collected by listing the batch's result prefix, so one request finds every
finished document, and only new documents are read: waiting for many images
costs about one GET per image, not one per image per poll.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from irs.aws import clients, documents
from irs.aws.clients import patiently
from irs.aws.queues import SQS_BATCH
from irs.broker.app import app
from irs.contract import FILENAME, OWNER, UPLOAD_MS, arguments, clean_filename
from irs.repository.store import pin
from irs.results import FIRST_POLL_S, POLL_GROWTH, ResultDocument, result_key
from irs.settings import get_settings
from irs.tasks import classify

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_POLL = 0.25  # seconds between looks, at most
PATIENCE_S = 300.0  # how long a submission rides out AWS trouble, unless its caller gives a deadline


@dataclass(frozen=True)
class Submitted:
    path: Path | str  # the file sent, or the s3:// URL of an object already in S3
    image_key: str
    task_id: str


def safe_name(name: str) -> str:
    """A file name made safe for an S3 key; the user's name never chooses the prefix."""
    return _UNSAFE.sub("_", Path(name).name).strip("._") or "image"


def put_image(key: str, body: bytes | BinaryIO) -> float:
    """Put an image (its bytes, or a file, streamed) in the input bucket; returns how long that took, in ms."""
    begin = time.perf_counter()
    clients.client("s3").put_object(Bucket=get_settings().input_bucket, Key=key, Body=body)
    return round((time.perf_counter() - begin) * 1000, 2)


def upload(path: Path, key: str) -> float:
    """Put the file in the input bucket; returns how long that took, in ms."""
    return put_image(key, path.read_bytes())


def enqueue(keys: Sequence[str], upload_ms: Sequence[float | None], producer: Any, queue: str | None = None,
            deadline: float | None = None, model: str | None = None, expires: float | None = None,
            owner: str | None = None, filenames: Sequence[str | None] | None = None) -> list[Any]:
    """One classify request per key (uploaded, taking ``upload_ms``; or None: an object already in S3), sent ten to
    a SendMessageBatch; the router picks each pool unless ``queue`` pins them. Sends are tried again until
    ``deadline`` (``time.monotonic()``). A request no worker has started ``expires`` seconds after it is sent is
    answered with an ``expired`` error instead. Each is ``owner``'s (this process's, IRS_OWNER, when None) and
    remembers its file's name from ``filenames``."""
    names = filenames or [None] * len(keys)
    with producer.channel.batched_sends(deadline):
        return [classify.apply_async(arguments(key, model), headers=_headers(ms, owner, name), producer=producer,
                                     queue=queue, expires=expires)
                for key, ms, name in zip(keys, upload_ms, names, strict=True)]


def _headers(upload_ms: float | None, owner: str | None, filename: str | None) -> dict[str, Any]:
    """A request's own headers: the upload's time, its owner, its file's name (cleaned), each where known."""
    label = clean_filename(filename) if filename else None
    return {name: value for name, value in ((UPLOAD_MS, upload_ms), (OWNER, owner), (FILENAME, label))
            if value is not None}


def upload_and_submit(path: Path, prefix: str, model: str | None = None) -> Submitted:
    key = f"{prefix}{safe_name(path.name)}"
    result = classify.apply_async(arguments(key, model), headers={UPLOAD_MS: upload(path, key)})
    return Submitted(path, key, result.id)


BATCH = re.compile(r"\d{8}-[0-9a-f]{12}")  # a batch's name: the day, and 12 random hex digits


def new_batch() -> str:
    return f"{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:12]}"


def submit_files(paths: Sequence[Path], threads: int = 8, on_submitted: Callable[[Submitted], None] | None = None,
                 queue: str | None = None, batch: str | None = None, deadline: float | None = None,
                 model: str | None = None, expires: float | None = None, owner: str | None = None
                 ) -> list[Submitted]:
    """Upload every file (in parallel) under a batch prefix (a fresh one by default), and enqueue them ten to a
    request, each for ``model`` (the workers' default when None; a repository model is pinned to its latest
    version once, before anything is uploaded: NotFound if there is none). AWS trouble is ridden out until
    ``deadline`` (``time.monotonic()``; by default PATIENCE_S from now). ``expires``, ``owner``: see
    :func:`enqueue`; each request remembers its file's name."""
    deadline = time.monotonic() + PATIENCE_S if deadline is None else deadline
    model = pin(model, get_settings()) if model else None
    prefix = f"uploads/{batch or new_batch()}/"
    keys = [f"{prefix}{n:06d}/{safe_name(path.name)}" for n, path in enumerate(paths)]  # sorted as sent

    def upload_patiently(path: Path, key: str) -> float:
        return patiently(lambda: upload(path, key), deadline, f"uploading {path}")

    submitted: list[Submitted] = []
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(paths)))) as pool, \
            app.producer_or_acquire() as producer:
        uploads = [pool.submit(upload_patiently, path, key) for path, key in zip(paths, keys, strict=True)]
        for start in range(0, len(paths), SQS_BATCH):
            times = [future.result() for future in uploads[start: start + SQS_BATCH]]
            chunk = enqueue(keys[start: start + SQS_BATCH], times, producer, queue, deadline, model, expires, owner,
                            [path.name for path in paths[start: start + SQS_BATCH]])
            for path, key, result in zip(paths[start:], keys[start:], chunk, strict=False):
                submitted.append(Submitted(path, key, result.id))
                if on_submitted:
                    on_submitted(submitted[-1])
    return submitted


def submit_objects(urls: Sequence[str], on_submitted: Callable[[Submitted], None] | None = None,
                   deadline: float | None = None, model: str | None = None, expires: float | None = None,
                   owner: str | None = None) -> list[Submitted]:
    """Enqueue a request for each object already in S3 (``s3://BUCKET/KEY`` in a source the deployment reads),
    ten to a request, nothing uploaded; as :func:`submit_files` otherwise."""
    deadline = time.monotonic() + PATIENCE_S if deadline is None else deadline
    model = pin(model, get_settings()) if model else None
    submitted: list[Submitted] = []
    with app.producer_or_acquire() as producer:
        for start in range(0, len(urls), SQS_BATCH):
            chunk = list(urls[start: start + SQS_BATCH])
            for url, result in zip(chunk, enqueue(chunk, [None] * len(chunk), producer, None, deadline, model,
                                                  expires, owner), strict=True):
                submitted.append(Submitted(url, url, result.id))
                if on_submitted:
                    on_submitted(submitted[-1])
    return submitted


def collect(submitted: Sequence[Submitted], timeout: float) -> Iterator[dict[str, Any]]:
    """Yield each result document as it lands, until all are in or ``timeout`` passes."""
    wanted = dict(sorted(((item.task_id, item) for item in submitted), key=lambda pair: pair[1].image_key))
    deadline = time.monotonic() + timeout
    delay = FIRST_POLL_S
    while wanted:
        due = partial(_from_s3, list(wanted.values()))
        for task_id, document in patiently(due, deadline, "collecting results"):
            del wanted[task_id]
            yield document
        if not wanted:
            return
        if time.monotonic() + delay > deadline:
            missing = ", ".join(str(item.path) for item in wanted.values())
            raise TimeoutError(f"no result after {timeout:.0f} s for: {missing}")
        time.sleep(delay)
        delay = min(delay * POLL_GROWTH, MAX_POLL)


def batch_results(batch: str) -> tuple[list[dict[str, Any]], int]:
    """What a batch has so far: each image's latest result document, and how many images it uploaded."""
    settings = get_settings()
    uploaded = sum(1 for page in clients.client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=settings.input_bucket, Prefix=f"uploads/{batch}/") for _ in page.get("Contents", ()))
    latest: dict[str, str] = {}  # image key -> its newest result key (names sort by time)
    for key, _ in documents.listing(f"{settings.results_prefix}uploads/{batch}/"):
        image_key = key.removeprefix(settings.results_prefix).rsplit("/", 1)[0]
        latest[image_key] = max(key, latest.get(image_key, ""))
    found = [documents.read(key, ResultDocument) for key in sorted(latest.values())]
    return [d.model_dump(mode="json", exclude_unset=True) for d in found if d is not None], uploaded


def _from_s3(items: list[Submitted]) -> list[tuple[str, dict[str, Any]]]:
    """The finished documents among ``items``.

    One item: a GET, which is also the cheapest way to ask. Several: a LIST of
    their common prefix, starting at the first one still due (``items`` come in
    key order, and results land roughly in that order), then a GET for each
    document found.
    """
    if len(items) == 1:
        ready = items
    else:
        wanted = [result_key(item.task_id) for item in items]
        # StartAfter is exclusive: drop the last character of the first key due, so it is included.
        keys = {key for key, _ in documents.listing(os.path.commonprefix(wanted), start_after=wanted[0][:-1])}
        ready = [item for item in items if result_key(item.task_id) in keys]
    found = []
    for item in ready:
        document = documents.get(result_key(item.task_id))
        if document is not None:
            found.append((item.task_id, document))
    return found
