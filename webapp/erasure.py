"""Erasure: a request's image and result, or everything of an owner, deleted from both buckets.

``DELETE /api/v1/results/{request_id}`` erases one request (the caller's own); ``irs web erase OWNER`` erases
everything an owner sent: its web uploads and their results (found by key: the owner is part of every web
upload's key), every other result document that names it as the owner (`irs classify`, jobs, watches: each
document is read to find out), and its jobs' records and manifests. Objects in the user's own source buckets are
never deleted: they were never IRS's. Counts of usage (``web/quota/``) stay: they hold no key. Each deletion
of a result document is announced by S3 to every web process, which forgets it (:mod:`webapp.feed`), so
nothing erased is left in the results list or the label search either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from irs.aws import documents
from irs.aws.clients import client
from irs.jobs import record
from irs.results import ResultDocument, result_key
from irs.settings import get_settings
from webapp.uploads import WEB_PREFIX, owner_of

DELETE_BATCH = 1000  # the most keys one DeleteObjects takes


@dataclass
class Report:
    """What an erasure deleted."""

    images: int = 0
    results: int = 0
    jobs: list[str] = field(default_factory=list)
    job_files: int = 0


def erase_request(request_id: str, may_see: Callable[[str], bool]) -> Report | None:
    """Erase one request's image and result documents; None when there is no such request, or ``may_see`` says
    its image is not the caller's (the same answer, so ids cannot be probed)."""
    found = documents.read(result_key(request_id), ResultDocument)
    if found is None or not may_see(found.image_key):
        return None
    report = Report(results=_delete(get_settings().results_bucket, _results_of(found.image_key, request_id)))
    if found.image_key.startswith("uploads/"):  # an upload is IRS's copy; an s3:// object is the user's own
        report.images = _delete(get_settings().input_bucket, [found.image_key])
    return report


def erase_owner(owner: str, progress: Callable[[str], None] = lambda _: None) -> Report:
    """Erase everything ``owner`` sent: see the module's docstring."""
    settings = get_settings()
    report = Report()
    progress(f"web uploads of {owner}")
    report.images += _delete(settings.input_bucket, (key for key in _keys(settings.input_bucket, WEB_PREFIX)
                                                     if owner_of(key) == owner))
    progress(f"result documents of {owner}")
    prefix = settings.results_prefix
    theirs, images = [], []
    for key in _keys(settings.results_bucket, prefix):
        image_key = key.removeprefix(prefix).rsplit("/", 1)[0]
        if image_key.startswith(WEB_PREFIX):
            if owner_of(image_key) == owner:
                theirs.append(key)
            continue
        document = documents.read(key, ResultDocument)
        if document is not None and document.owner == owner:
            theirs.append(key)
            if document.image_key.startswith("uploads/"):
                images.append(document.image_key)
    report.results += _delete(settings.results_bucket, theirs)
    report.images += _delete(settings.input_bucket, images)
    progress(f"jobs of {owner}")
    for name in record.names():
        job = record.read(name)
        if job is not None and job.owner == owner:
            report.jobs.append(name)
            report.job_files += _delete(settings.results_bucket, _keys(settings.results_bucket,
                                                                       f"{record.PREFIX}{name}/"))
    return report


def _results_of(image_key: str, request_id: str) -> list[str]:
    """The request's result document, and any other under its image's key."""
    prefix = f"{get_settings().results_prefix}{image_key}/"
    return sorted({result_key(request_id), *(key for key in _keys(get_settings().results_bucket, prefix))})


def _keys(bucket: str, prefix: str) -> Iterable[str]:
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            yield item["Key"]


def _delete(bucket: str, keys: Iterable[str]) -> int:
    """Delete ``keys`` from ``bucket``, a thousand to a request; how many."""
    s3, batch, count = client("s3"), [], 0
    for key in keys:
        batch.append({"Key": key})
        if len(batch) == DELETE_BATCH:
            count += _delete_batch(s3, bucket, batch)
            batch = []
    if batch:
        count += _delete_batch(s3, bucket, batch)
    return count


def _delete_batch(s3: Any, bucket: str, batch: list[dict[str, str]]) -> int:
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    errors = answer.get("Errors", [])
    if errors:
        raise RuntimeError(f"S3 kept {len(errors)} of {len(batch)} objects: {errors[0].get('Message', errors[0])}")
    return len(batch)
