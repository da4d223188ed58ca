"""Where a result document lives, and how a task id leads to it.

A task id is ``<32 hex>:<image key>``: unique per request, yet it names the
image, so the result backend can find the document at a key derived from the
image key alone. A redelivered task therefore overwrites its document and never
writes a second one; a document left by an earlier request for the same image
is told apart by the task id it carries.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from irs.settings import get_settings

_HEX = 32


def new_task_id(image_key: str) -> str:
    return f"{uuid.uuid4().hex}:{image_key}"


def image_key_of(task_id: str) -> str | None:
    """The image key a task id names, or None for an id IRS did not make."""
    head, sep, key = task_id.partition(":")
    if sep and len(head) == _HEX and key:
        return key
    return None


def result_key(image_key: str) -> str:
    return f"{get_settings().results_prefix}{image_key}.json"


def key_for_task(task_id: str) -> str:
    """The result document's key; ids IRS did not make get a key of their own."""
    image_key = image_key_of(task_id)
    if image_key is None:
        return f"{get_settings().results_prefix}tasks/{task_id}.json"
    return result_key(image_key)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def error_document(image_key: str, task_id: str, reason: str, **extra: object) -> dict[str, object]:
    """A result that says the image could not be classified, and why."""
    return {"image_key": image_key, "task_id": task_id, "status": "error", "error": reason,
            "detections": [], "summary": f"{image_key.rsplit('/', 1)[-1]}: error: {reason}", **extra}
