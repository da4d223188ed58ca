"""Submitting images and collecting their results: what ``irs classify`` and the benchmark use.

Each file is uploaded to the input bucket under a fresh batch prefix, then its
task is enqueued with the key alone, ten tasks to a SendMessageBatch. Results
come back over a reply queue (:mod:`irs.replies`) as soon as they exist; S3,
where every document is kept, is the fallback.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irs import aws
from irs.celery import app
from irs.replies import REPLY_TO, ReplyQueue
from irs.results import result_key
from irs.settings import get_settings
from irs.tasks import UPLOAD_MS, classify
from irs.transport import SQS_BATCH

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
QUIET = 5.0  # seconds without a reply before S3 is checked for what is missing
MAX_POLL = 0.5


@dataclass(frozen=True)
class Submitted:
    path: Path
    image_key: str
    task_id: str


def safe_name(name: str) -> str:
    """A file name made safe for an S3 key; the user's name never chooses the prefix."""
    return _UNSAFE.sub("_", Path(name).name).strip("._") or "image"


def upload(path: Path, key: str) -> float:
    """Put the file in the input bucket; returns how long that took, in ms."""
    begin = time.perf_counter()
    aws.client("s3").put_object(Bucket=get_settings().input_bucket, Key=key, Body=path.read_bytes())
    return round((time.perf_counter() - begin) * 1000, 2)


def _headers(upload_ms: float, replies: ReplyQueue | None) -> dict[str, Any]:
    return {UPLOAD_MS: upload_ms, **({REPLY_TO: replies.url} if replies else {})}


def upload_and_submit(path: Path, prefix: str, replies: ReplyQueue | None = None) -> Submitted:
    key = f"{prefix}{safe_name(path.name)}"
    result = classify.apply_async((key,), headers=_headers(upload(path, key), replies))
    return Submitted(path, key, result.id)


def submit_files(paths: Sequence[Path], replies: ReplyQueue | None = None, threads: int = 8,
                 on_submitted: Callable[[Submitted], None] | None = None) -> list[Submitted]:
    """Upload every file (in parallel) under a fresh batch prefix, and enqueue them ten to a request."""
    batch = f"uploads/{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:12]}/"
    keys = [f"{batch}{n}/{safe_name(path.name)}" for n, path in enumerate(paths)]
    submitted: list[Submitted] = []
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(paths)))) as pool, \
            app.producer_or_acquire() as producer:
        uploads = [pool.submit(upload, path, key) for path, key in zip(paths, keys, strict=True)]
        for start in range(0, len(paths), SQS_BATCH):
            times = [future.result() for future in uploads[start: start + SQS_BATCH]]
            with producer.channel.batched_sends():
                chunk = [classify.apply_async((key,), headers=_headers(ms, replies), producer=producer)
                         for key, ms in zip(keys[start:], times, strict=False)]
            for path, key, result in zip(paths[start:], keys[start:], chunk, strict=False):
                submitted.append(Submitted(path, key, result.id))
                if on_submitted:
                    on_submitted(submitted[-1])
    return submitted


def collect(submitted: Sequence[Submitted], timeout: float, replies: ReplyQueue | None = None
            ) -> Iterator[dict[str, Any]]:
    """Yield each result document as it lands, until all are in or ``timeout`` passes.

    Documents come from the reply queue when there is one; whatever has not arrived
    after ``QUIET`` seconds of silence is looked for in S3, where every result is kept.
    """
    wanted = {item.task_id: item for item in submitted}
    deadline = time.monotonic() + timeout
    heard = time.monotonic()
    while wanted:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            missing = ", ".join(str(item.path) for item in wanted.values())
            raise TimeoutError(f"no result after {timeout:.0f} s for: {missing}")
        if replies and time.monotonic() - heard < QUIET:
            arrived = list(replies.receive(min(remaining, QUIET)))
        else:
            arrived = _from_s3(list(wanted.values()))
            if not arrived:
                time.sleep(min(MAX_POLL, remaining))
        for document in arrived:
            if wanted.pop(document.get("task_id"), None) is not None:
                heard = time.monotonic()
                yield document


def _from_s3(items: list[Submitted]) -> list[dict[str, Any]]:
    """The finished documents among ``items``: a LIST per prefix, then a GET for each one found."""
    bucket = get_settings().results_bucket
    s3 = aws.client("s3")
    prefix = os.path.commonprefix([result_key(item.image_key) for item in items])
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(entry["Key"] for entry in page.get("Contents", ()))
    found = []
    for item in items:
        if result_key(item.image_key) in keys:
            document = json.loads(s3.get_object(Bucket=bucket, Key=result_key(item.image_key))["Body"].read())
            if document.get("task_id") == item.task_id:
                found.append(document)
    return found
