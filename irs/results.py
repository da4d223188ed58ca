"""Where a result document lives, and how a task id leads to it.

A task id is ``<32 hex>:<image key>``: unique per request, and it names the
image. The result document of a request lives at
``results/<image key>/<32 hex>.json``, derived from the task id alone: a
redelivered task overwrites its own document and never writes a second one,
and two requests for the same image, even at once, never overwrite each other.
The first 16 hex digits are the time the id was made, so the documents of an
image list in the order they were asked for; the last is the latest.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from irs.settings import get_settings

TASK_ID_HEX = 32  # hex digits before the ":" of a task id
#: How anything waiting for a result document polls: quickly at first, then backing off.
FIRST_POLL_S = 0.01
POLL_GROWTH = 1.5


def new_task_id(image_key: str) -> str:
    return f"{time.time_ns():016x}{secrets.token_hex(8)}:{image_key}"


def image_key_of(task_id: str) -> str | None:
    """The image key a task id names, or None for an id IRS did not make."""
    head, sep, key = task_id.partition(":")
    if sep and len(head) == TASK_ID_HEX and key:
        return key
    return None


def result_prefix(image_key: str) -> str:
    """Where every result document of an image lives."""
    return f"{get_settings().results_prefix}{image_key}/"


def result_key(task_id: str) -> str:
    """The result document's key; ids IRS did not make get a key of their own."""
    image_key = image_key_of(task_id)
    if image_key is None:
        return f"{get_settings().results_prefix}tasks/{task_id}.json"
    return f"{result_prefix(image_key)}{task_id[:TASK_ID_HEX]}.json"


def task_id_of(key: str) -> str | None:
    """The task id whose result document lives at ``key`` (the inverse of :func:`result_key`)."""
    prefix = get_settings().results_prefix
    image_key, _, name = key.removeprefix(prefix).rpartition("/")
    head = name.removesuffix(".json")
    if not key.startswith(prefix) or not image_key or len(head) != TASK_ID_HEX or not name.endswith(".json"):
        return None
    return f"{head}:{image_key}"


def iso(epoch: float | None = None) -> str:
    """A timestamp as the result documents write it: UTC, milliseconds; now by default."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds")


def error_document(image_key: str, task_id: str, reason: str, **extra: object) -> dict[str, object]:
    """A result that says the image could not be classified, and why."""
    return {"image_key": image_key, "task_id": task_id, "status": "error", "error": reason,
            "detections": [], "summary": f"{image_key.rsplit('/', 1)[-1]}: error: {reason}", **extra}
