"""Images IRS reads where they already are: an image key may be an S3 URL, ``s3://BUCKET/KEY``.

A key without the scheme names an object in IRS's input bucket, as it always has. A URL names an object in any
bucket the deployment lists in ``IRS_SOURCE_BUCKETS`` (each entry a bucket, or a bucket and a key prefix); the
workers' role may read exactly those (``deploy/irs.yaml``'s ``SourceBuckets``), and a worker refuses any other
URL before it asks S3. Importing this module loads nothing but the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEME = "s3://"
#: S3's rules for a bucket's name (no dots at the ends, 3 to 63 characters).
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class BadLocation(ValueError):
    """Not ``s3://BUCKET/KEY`` with a bucket S3 could have."""


class NotASource(BadLocation):
    """An S3 URL outside the buckets and prefixes the deployment may read."""


@dataclass(frozen=True)
class Location:
    """Where an image is: a bucket and a key (or, for a listing, a key prefix)."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"


def is_url(image_key: str) -> bool:
    return image_key.startswith(SCHEME)


def parse(url: str, prefix: bool = False) -> Location:
    """``s3://BUCKET/KEY`` as a :class:`Location`; with ``prefix`` the key may be empty (a whole bucket)."""
    if not is_url(url):
        raise BadLocation(f"{url!r} is not an S3 URL (s3://BUCKET/KEY)")
    bucket, _, key = url.removeprefix(SCHEME).partition("/")
    if not BUCKET.fullmatch(bucket) or ".." in bucket:
        raise BadLocation(f"{bucket!r} is not a bucket name S3 allows")
    if not key and not prefix:
        raise BadLocation(f"{url!r} names a bucket, not an object")
    return Location(bucket, key)


def rules(text: str) -> tuple[Location, ...]:
    """``IRS_SOURCE_BUCKETS``: comma-separated ``BUCKET`` or ``BUCKET/PREFIX`` entries."""
    found = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        found.append(parse(SCHEME + entry.removeprefix(SCHEME), prefix=True))
    return tuple(found)


def readable(url: str, sources: tuple[Location, ...], prefix: bool = False) -> Location:
    """The object ``url`` names (with ``prefix``, the prefix), if it lies inside one of ``sources``."""
    location = parse(url, prefix)
    if not allowed(location, sources):
        raise NotASource(f"{location} is not in a source this deployment may read: add it to IRS_SOURCE_BUCKETS "
                         "(and to the stack's SourceBuckets, which lets the workers read it)")
    return location


def allowed(location: Location, sources: tuple[Location, ...]) -> bool:
    """Whether ``location`` (an object, or a prefix to list) lies inside one of the allowed sources."""
    return any(location.bucket == rule.bucket and location.key.startswith(rule.key) for rule in sources)
