"""Submitting images and collecting their results: what ``irs classify`` and the benchmark use.

Each file is uploaded to the input bucket under a batch prefix, then its task
is enqueued with the key alone. Results are collected by listing the batch's
result prefix (one request finds every finished document) and reading only
the documents that are new, so waiting for many images costs about one GET
per image rather than one per image per poll.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irs import aws
from irs.results import result_key
from irs.settings import get_settings
from irs.tasks import UPLOAD_MS, classify

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
FIRST_POLL = 0.01
MAX_POLL = 0.25


@dataclass(frozen=True)
class Submitted:
    path: Path
    image_key: str
    task_id: str


def safe_name(name: str) -> str:
    """A file name made safe for an S3 key; the user's name never chooses the prefix."""
    return _UNSAFE.sub("_", Path(name).name).strip("._") or "image"


def upload_and_submit(path: Path, prefix: str) -> Submitted:
    settings = get_settings()
    key = f"{prefix}{safe_name(path.name)}"
    begin = time.perf_counter()
    aws.client("s3").put_object(Bucket=settings.input_bucket, Key=key, Body=path.read_bytes())
    upload_ms = round((time.perf_counter() - begin) * 1000, 2)
    result = classify.apply_async((key,), headers={UPLOAD_MS: upload_ms})
    return Submitted(path, key, result.id)


def submit_files(paths: Sequence[Path], threads: int = 8,
                 on_submitted: Callable[[Submitted], None] | None = None) -> tuple[str, list[Submitted]]:
    """Upload and enqueue every file; return the batch prefix and what was submitted."""
    batch = f"uploads/{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:12]}/"
    submitted: list[Submitted] = []
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(paths)))) as pool:
        futures = [pool.submit(upload_and_submit, path, f"{batch}{n}/") for n, path in enumerate(paths)]
        for future in futures:
            item = future.result()
            submitted.append(item)
            if on_submitted:
                on_submitted(item)
    return batch, submitted


def collect(batch: str, submitted: Sequence[Submitted], timeout: float) -> Iterator[dict[str, Any]]:
    """Yield each result document as it lands, until all are in or ``timeout`` passes."""
    settings = get_settings()
    s3 = aws.client("s3")
    wanted = {result_key(item.image_key): item for item in submitted}
    deadline = time.monotonic() + timeout
    delay = FIRST_POLL
    while wanted:
        found = _list_keys(s3, settings.results_bucket, result_key(batch).removesuffix(".json"))
        for key in found & wanted.keys():
            body = s3.get_object(Bucket=settings.results_bucket, Key=key)["Body"].read()
            document = json.loads(body)
            if document.get("task_id") == wanted[key].task_id:
                del wanted[key]
                yield document
        if not wanted:
            return
        if time.monotonic() + delay > deadline:
            missing = ", ".join(str(item.path) for item in wanted.values())
            raise TimeoutError(f"no result after {timeout:.0f} s for: {missing}")
        time.sleep(delay)
        delay = min(delay * 1.5, MAX_POLL)


def _list_keys(s3: Any, bucket: str, prefix: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(item["Key"] for item in page.get("Contents", ()))
    return keys
