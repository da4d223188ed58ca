"""JSON documents in the results bucket: one way to put, get, list and remove them.

Result documents, worker reports and the autoscaler's state all live in the
results bucket as small JSON objects; every reader and writer goes through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from irs.aws.clients import client, error_code
from irs.settings import get_settings

MISSING = ("NoSuchKey", "404")


def put(key: str, document: Any) -> None:
    """Write ``document`` as JSON at ``key`` (replacing what is there)."""
    put_body(key, json.dumps(document))


def put_body(key: str, body: str | bytes) -> None:
    """Write JSON that is already serialised."""
    client("s3").put_object(Bucket=get_settings().results_bucket, Key=key, Body=body,
                            ContentType="application/json")


def get_bytes(key: str) -> bytes | None:
    """The raw document at ``key``, or None if there is none."""
    try:
        body: bytes = client("s3").get_object(Bucket=get_settings().results_bucket, Key=key)["Body"].read()
    except Exception as error:
        if error_code(error) in MISSING:
            return None
        raise
    return body


def get(key: str) -> Any | None:
    """The parsed document at ``key``, or None if there is none. Raises ValueError if it is not JSON."""
    body = get_bytes(key)
    return None if body is None else json.loads(body)


def remove(key: str) -> None:
    client("s3").delete_object(Bucket=get_settings().results_bucket, Key=key)


def listing(prefix: str, start_after: str = "") -> Iterator[tuple[str, datetime]]:
    """(key, last modified) of every document under ``prefix``, in key order."""
    options = {"StartAfter": start_after} if start_after else {}
    pages = client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=get_settings().results_bucket, Prefix=prefix, **options)
    for page in pages:
        for entry in page.get("Contents", ()):
            yield entry["Key"], entry["LastModified"]
