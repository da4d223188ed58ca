"""JSON documents in the results bucket: one way to put, get, list and remove them.

Result documents, worker reports and the autoscaler's state all live in the
results bucket as small JSON objects; every reader and writer goes through here.
Whoever can write to the bucket can write anything, so a typed reader
(:func:`read`) validates what it reads: an invalid document is skipped,
logged once with its key, and counted (``irs_documents_invalid_total``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from irs.aws.clients import client, error_code
from irs.settings import get_settings

logger = logging.getLogger(__name__)
MISSING = ("NoSuchKey", "404")
MAX_DOCUMENT_BYTES = 1024 * 1024  # larger than any document IRS writes, by far
_REMEMBERED = 10_000  # invalid keys already logged; past this, each is logged again
_logged: set[str] = set()
Model = TypeVar("Model", bound=BaseModel)


def put(key: str, document: Any) -> None:
    """Write ``document`` as JSON at ``key`` (replacing what is there)."""
    put_body(key, json.dumps(document))


def put_body(key: str, body: str | bytes) -> None:
    """Write JSON that is already serialised."""
    client("s3").put_object(Bucket=get_settings().results_bucket, Key=key, Body=body,
                            ContentType="application/json")


def create(key: str, body: str | bytes) -> bool:
    """Write JSON at ``key`` only if nothing is there yet (S3's conditional write); False if something was."""
    return write_if(key, body, None) is not None


def write_if(key: str, body: str | bytes, etag: str | None) -> str | None:
    """Write JSON at ``key`` only if the document there is still the version ``etag`` (None: only if there is
    none), by S3's conditional write; the new version's ETag, or None if another writer came first."""
    condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
    try:
        written = client("s3").put_object(Bucket=get_settings().results_bucket, Key=key, Body=body,
                                          ContentType="application/json", **condition)
    except Exception as error:
        if error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict"):
            return None
        raise
    return str(written["ETag"])


def get_bytes(key: str) -> bytes | None:
    """The raw document at ``key``, or None if there is none."""
    found = _get(key)
    return None if found is None else found[0]


def _get(key: str) -> tuple[bytes, str] | None:
    """The raw document at ``key`` and its version's ETag, or None if there is none."""
    try:
        response = client("s3").get_object(Bucket=get_settings().results_bucket, Key=key)
    except Exception as error:
        if error_code(error) in MISSING:
            return None
        raise
    return response["Body"].read(), str(response["ETag"])


def get(key: str) -> Any | None:
    """The parsed document at ``key``, or None if there is none. Raises ValueError if it is not JSON."""
    body = get_bytes(key)
    return None if body is None else json.loads(body)


def remove(key: str) -> None:
    client("s3").delete_object(Bucket=get_settings().results_bucket, Key=key)


def listing(prefix: str, start_after: str = "") -> Iterator[tuple[str, datetime]]:
    """(key, last modified) of every document under ``prefix``, in key order."""
    # A StartAfter holding "//" (the result key of an s3:// image key) is cut before the pair, and dropped if that
    # leaves it short of the prefix: LocalStack collapses the pair and skips keys AWS lists. Starting earlier
    # lists more, never less.
    start_after = start_after.split("//", 1)[0]
    options = {"StartAfter": start_after} if start_after.startswith(prefix) and start_after != prefix else {}
    pages = client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=get_settings().results_bucket, Prefix=prefix, **options)
    for page in pages:
        for entry in page.get("Contents", ()):
            yield entry["Key"], entry["LastModified"]


def read(key: str, model: type[Model], belongs: Callable[[Model, str], bool] | None = None) -> Model | None:
    """The document at ``key`` as ``model``, or None if there is none or it is not valid (then skipped, logged
    once and counted). ``belongs(document, key)`` adds a check of the document against its key."""
    body = get_bytes(key)
    return None if body is None else _parsed(key, body, model, belongs)


def read_versioned(key: str, model: type[Model]) -> tuple[Model, str] | None:
    """The document at ``key`` as ``model`` and its version's ETag (for :func:`write_if`), as :func:`read`."""
    found = _get(key)
    document = None if found is None else _parsed(key, found[0], model, None)
    return None if document is None or found is None else (document, found[1])


def _parsed(key: str, body: bytes, model: type[Model], belongs: Callable[[Model, str], bool] | None) -> Model | None:
    problem = None
    if len(body) > MAX_DOCUMENT_BYTES:
        problem = f"{len(body):,} bytes, over the limit of {MAX_DOCUMENT_BYTES:,}"
    else:
        try:
            document = model.model_validate_json(body)
        except ValidationError as error:
            problem = str(error).splitlines()[0]
        except RecursionError:
            problem = "nested too deeply"
        else:
            if belongs is None or belongs(document, key):
                return document
            problem = "it does not belong under this key"
    _invalid(key, problem)
    return None


def _invalid(key: str, why: str) -> None:
    _invalid_counter().labels(key.split("/", 1)[0]).inc()
    if key not in _logged:
        if len(_logged) >= _REMEMBERED:
            _logged.clear()
        _logged.add(key)
        logger.warning("skipped the document at %r: %s", key[:300], why[:300])
    return None


@cache
def _invalid_counter() -> Any:
    from prometheus_client import Counter

    return Counter("irs_documents_invalid_total", "Documents skipped because they were not valid, by key prefix",
                   ["prefix"])
