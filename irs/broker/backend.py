"""Celery's result backend, on S3, storing each result document exactly once (S3's conditional write).

Celery's stock S3 backend writes a ``celery-task-meta-<id>`` object beside
whatever the task itself saves, reads before it writes, and polls with a HEAD
and a GET. Here the result document *is* the Celery result: one PUT at the
key derived from the task id, which names the image (see :mod:`irs.results`),
one GET per poll, and polling that starts fast and backs off, so ``.get()``
returns soon after the worker finishes without hammering S3 while it waits.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from celery import states
from celery.backends.base import KeyValueStoreBackend
from celery.exceptions import TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeoutError

from irs import metrics
from irs.aws import documents
from irs.aws.clients import patiently
from irs.contract import FILENAME, OWNER
from irs.results import FIRST_POLL_S, POLL_GROWTH, ErrorKind, error_document, image_key_of, result_key
from irs.settings import get_settings

logger = logging.getLogger(__name__)
#: How long one read or write of a document rides out S3 trouble (a write retried after a lost answer that had
#: in fact been stored is refused by the conditional write, and so counted as done).
PATIENCE_S = 60.0
#: How long answering a dead-lettered request rides out S3 trouble: it runs on a worker's consumer, which waits.
DEAD_LETTER_PATIENCE_S = 5.0
#: The reason Celery's worker gives when it revokes a request whose ``expires`` has passed.
EXPIRED_REASON = "expired"


def answer_dead_letter(task_id: str, reason: str, owner: str | None = None) -> bool:
    """Answer a request (of ``owner``) whose message IRS dead-letters, so that whoever waits on it hears why at
    once; False when it has an answer already. The write is conditional, so no message, forged or not, can replace
    a real result."""
    document = error_document(image_key_of(task_id) or "", task_id, f"dead-lettered: {reason}"[:2000],
                              ErrorKind.DEAD_LETTERED, pool=get_settings().pool_name, owner=owner)
    written = patiently(lambda: documents.create(result_key(task_id), json.dumps(document.as_json())),
                        time.monotonic() + DEAD_LETTER_PATIENCE_S, "answering a dead-lettered request")
    if written:
        metrics.record_result(document)
    return written


def _named(request: Any) -> dict[str, Any]:
    """The owner and file name a request's headers give (admitted, so within bounds), for its error document."""
    get = getattr(request, "get", None)
    return {"owner": get(OWNER), "filename": get(FILENAME)} if callable(get) else {}


class S3DocumentBackend(KeyValueStoreBackend):
    """Result documents in the results bucket; only ready states are stored."""

    supports_autoexpire = False  # the bucket's lifecycle rule expires documents

    # -- storage -------------------------------------------------------------------------
    def get(self, key: str | bytes) -> bytes | None:
        return patiently(lambda: documents.get_bytes(_text(key)), time.monotonic() + PATIENCE_S,
                         "reading a result document")

    def mget(self, keys: list[Any]) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def set(self, key: str | bytes, value: str | bytes) -> None:
        """Write a result document once: S3's conditional write refuses to replace one that exists, so a
        redelivered request finds its document written (and is done), and no message, forged or duplicated,
        can replace another's."""
        if not patiently(lambda: documents.create(_text(key), value), time.monotonic() + PATIENCE_S,
                         f"writing the result document {_text(key)[:300]}"):
            logger.info("the result document at %s exists already: kept", _text(key)[:300])

    def delete(self, key: str | bytes) -> None:
        documents.remove(_text(key))

    def get_key_for_task(self, task_id: str, key: str = "") -> str:  # type: ignore[override]
        return result_key(_text(task_id))

    # -- Celery's view of a document --------------------------------------------------------
    def _store_result(self, task_id: str, result: Any, state: str, traceback: str | None = None,
                      request: Any = None, **kwargs: Any) -> Any:
        body: str | None = None
        if state == states.SUCCESS and isinstance(result, dict):
            body = json.dumps(result)  # classify's own document, built as a ResultDocument
        elif state == states.REVOKED and self._expired(result):
            # Celery's worker, on receiving (or about to start) a request past its deadline: answered, not run.
            document = error_document(image_key_of(task_id) or "", task_id, "the request's deadline passed before "
                                      "a worker started it", ErrorKind.EXPIRED, pool=get_settings().pool_name,
                                      **_named(request))
            metrics.record_result(document)
            body = json.dumps(document.as_json())
        elif state in states.EXCEPTION_STATES and state != states.RETRY:
            # A lost duplicate cannot overwrite a finished result: the write is conditional (set).
            meta = self._get_result_meta(result=self.prepare_exception(result) if isinstance(result, BaseException)
                                         else result, state=state, traceback=traceback, request=request)
            image_key = image_key_of(task_id) or ""
            reason = f"{meta['result'].get('exc_type', 'Error')}: {meta['result'].get('exc_message')}" \
                if isinstance(meta["result"], dict) else str(meta["result"])
            body = json.dumps(error_document(image_key, task_id, f"the task failed: {reason}"[:2000],
                                             ErrorKind.TASK_FAILED, celery=meta, **_named(request)).as_json(),
                              default=str)
        if body is not None:
            self.set(self.get_key_for_task(task_id), body)
        return result

    def _expired(self, result: Any) -> bool:
        """Whether a revocation is Celery's for a passed deadline (the exception arrives encoded for JSON)."""
        exception = self.exception_to_python(result) if isinstance(result, dict) else result
        return isinstance(exception, TaskRevokedError) and str(exception) == EXPIRED_REASON

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        raw = self.get(self.get_key_for_task(task_id))
        if not raw:
            return {"status": states.PENDING, "result": None}
        document = json.loads(raw)
        if "celery" in document:
            return self.meta_from_decoded(dict(document["celery"], task_id=document["task_id"]))
        return {"status": states.SUCCESS, "result": document, "task_id": document["task_id"],
                "traceback": None, "children": [], "date_done": document.get("finished_at")}

    def wait_for(self, task_id: str, timeout: float | None = None, interval: float = 0.5,
                 no_ack: bool = True, on_interval: Any = None) -> dict[str, Any]:
        """Poll with growing delays capped at ``interval``, instead of a fixed interval."""
        self._ensure_not_eager()
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = min(FIRST_POLL_S, interval)
        while True:
            meta = self.get_task_meta(task_id)
            if meta["status"] in states.READY_STATES:
                return meta
            if on_interval:
                on_interval()
            if deadline is not None and time.monotonic() + delay > deadline:
                raise CeleryTimeoutError("The operation timed out.")
            time.sleep(delay)
            delay = min(delay * POLL_GROWTH, interval)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
