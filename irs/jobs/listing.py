"""Listing a job's prefix a page at a time, and sorting each object into an image to send or a skip.

The client never holds more than one page: a prefix of millions of objects costs the memory of a thousand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from irs.aws.clients import client
from irs.image_files import IMAGE_SUFFIXES
from irs.jobs.record import BadJob, Entry, SkipReason, task_id
from irs.settings import get_settings
from irs.sources import BadLocation, Location, readable

DEFAULT_SUFFIXES = tuple(sorted(IMAGE_SUFFIXES))


@dataclass(frozen=True)
class Page:
    """One listed page: every object on it, each an image to send or a skip, and its last key."""

    entries: list[Entry]
    last_key: str

    @property
    def images(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.task_id]


def source_of(url: str) -> Location:
    """The prefix ``url`` names (a job's or a watch's), if this deployment may read it."""
    try:
        return readable(url, get_settings().sources, prefix=True)
    except BadLocation as error:
        raise BadJob(str(error)) from None


def pages(source: Location, after: str | None = None) -> Iterator[list[tuple[str, int]]]:
    """(key, size) of every object under ``source``, a page at a time, in key order, after the key ``after``."""
    params = {"Bucket": source.bucket, "Prefix": source.key, **({"StartAfter": after} if after else {})}
    for page in client("s3").get_paginator("list_objects_v2").paginate(**params, PaginationConfig={
            "PageSize": get_settings().job_page_size}):
        found = [(item["Key"], int(item["Size"])) for item in page.get("Contents", ())]
        if found:
            yield found


def sort(name: str, source: Location, objects: list[tuple[str, int]], suffixes: tuple[str, ...],
         max_bytes: int) -> Page:
    """Each object as the job's manifest records it: the request it becomes, or why it is skipped."""
    entries = []
    for key, size in objects:
        url = str(Location(source.bucket, key))
        reason = skip_reason(url, size, suffixes, max_bytes)
        entries.append(Entry(key=key, size=size, skipped=reason) if reason else
                       Entry(key=key, size=size, task_id=task_id(name, url)))
    return Page(entries, objects[-1][0])


def skip_reason(url: str, size: int, suffixes: tuple[str, ...], max_bytes: int) -> SkipReason | None:
    """Why an object is not sent, or None: a name that does not end like an image, or a size no image has or over
    the limit."""
    if not url.lower().endswith(suffixes):
        return "not an image"
    if size == 0:
        return "empty"
    if size > max_bytes:
        return "too large"
    return None
