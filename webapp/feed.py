"""Result documents pushed to the web tier as they land: no polling of S3.

The results bucket announces every new result document on an SNS topic, and
this process subscribes a queue of its own to it (:mod:`irs.aws.feeds`), so any
number of web processes each hear of every result. One thread long-polls that
queue, reads each new document once (one GET), keeps the recent ones in memory
for the results list and the label search, and wakes whoever waits for them:
an API long poll or a browser. Notices cost one SQS request per ten results
and arrive within milliseconds of the PUT.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, Field, ValidationError

from irs.aws import clients, documents, feeds
from irs.aws.clients import AWS_ERRORS, AWS_OR_NETWORK_ERRORS, error_code
from irs.results import ResultDocument, result_key, task_id_of
from irs.settings import get_settings
from webapp import metrics
from webapp.uploads import owner_of

logger = logging.getLogger(__name__)
KEEP = 2000  # recent documents kept for listing and search
WARM_START = 200  # recent documents of the web tier read at start, so the list is not empty after a restart
WARM_DAYS = 7
LONG_POLL_S = 5  # also how long stopping may wait for the poll in flight

Document = dict[str, Any]


class ResultFeed:
    def __init__(self) -> None:
        self.documents: OrderedDict[str, Document] = OrderedDict()  # task id -> document, oldest first
        self.lock = threading.Lock()
        self.waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Document]]]] = {}
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.subscription: feeds.Subscription | None = None
        self.served: Counter[tuple[str, str]] = Counter()  # (model, version) -> images answered, seen here
        self.listeners: list[Callable[[str, Document], None]] = []  # told of every document added

    # -- running -----------------------------------------------------------------------------------
    def start(self, warm_prefix: str | None = None) -> None:
        """Subscribe (after sweeping what crashed listeners left), read recent results, start listening.

        The subscription comes first, so no result lands unheard between the warm-up and the loop.
        """
        try:
            swept = feeds.sweep()
            if swept:
                logger.info("results feed: removed %d queue(s) of listeners that are gone", swept)
            self.subscription = feeds.Subscription.open()
        except AWS_ERRORS as error:
            logger.warning("results feed: cannot subscribe (%s); will keep trying", error)
        if warm_prefix:
            self._warm(warm_prefix)
        self.thread = threading.Thread(target=self._run, name="irs-results-feed", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop listening and remove this process's queue and subscription."""
        self.stop.set()
        if self.thread:
            self.thread.join(LONG_POLL_S + 5)
        if self.subscription:
            self.subscription.close()
            self.subscription = None

    def _run(self) -> None:
        sqs = clients.client("sqs")
        while not self.stop.is_set():
            try:
                if self.subscription is None:
                    self.subscription = feeds.Subscription.open()
                self.subscription.heartbeat()
                url = self.subscription.queue_url
                messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=LONG_POLL_S,
                                               MaxNumberOfMessages=10).get("Messages", [])
                for message in messages:
                    self._notice(message.get("Body", ""))
                if messages:
                    sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
            except AWS_OR_NETWORK_ERRORS as error:
                if "NonExistentQueue" in error_code(error):
                    self.subscription = None  # swept or deleted under us: subscribe anew
                logger.warning("results feed: %s; trying again in 2 s", error)
                self.stop.wait(2)
            except Exception:  # noqa: BLE001 - the feed outlives any fault; readiness says if it stops working
                logger.exception("results feed: unexpected error; trying again in 2 s")
                self.stop.wait(2)

    def _notice(self, body: str) -> None:
        """One message from the feed queue: a notice of new result documents, or something to drop."""
        found = _keys(body)
        if found is None:
            metrics.record_feed_dropped()
            logger.warning("results feed: dropped a message that is not an S3 notice: %.120r", body)
            return
        keys, removed = found
        for key in removed:  # erased (webapp.erasure): no longer listed, searched or answered from memory
            task_id = task_id_of(key)
            if task_id is not None:
                self.forget(task_id)
        for key in keys:
            try:
                self._landed(key)
            except Exception:  # noqa: BLE001 - one bad document costs only itself
                metrics.record_feed_dropped()
                logger.exception("results feed: could not take the notice of %.200r", key)

    def _landed(self, key: str) -> None:
        task_id = task_id_of(key)
        if task_id is None:
            return
        document = _get(key)
        if document is not None:
            self.add(task_id, document)

    def _warm(self, prefix: str) -> None:
        """Read the newest documents under ``prefix``, whose batches are named by UTC date and time
        (see :mod:`webapp.uploads`): a day at a time, back at most a week."""
        results_prefix = get_settings().results_prefix
        keys: list[str] = []
        today = time.time()
        try:
            for days_back in range(WARM_DAYS):
                day = time.strftime("%Y%m%d", time.gmtime(today - days_back * 86400))
                keys.extend(key for key, _ in documents.listing(f"{results_prefix}{prefix}{day}"))
                if len(keys) >= WARM_START:
                    break
        except AWS_ERRORS as error:
            logger.warning("results feed: could not list recent results (%s)", error)
            return
        for key in sorted(keys)[-WARM_START:]:
            task_id, document = task_id_of(key), _get(key)
            if task_id and document:
                self.add(task_id, document)

    # -- what the app uses ---------------------------------------------------------------------------
    def add(self, task_id: str, document: Document) -> None:
        with self.lock:
            if task_id not in self.documents and document.get("status") == "ok" and document.get("model"):
                self.served[(document["model"]["name"], document["model"]["version"])] += 1
            self.documents[task_id] = document
            self.documents.move_to_end(task_id)
            while len(self.documents) > KEEP:
                self.documents.popitem(last=False)
            waiting = self.waiters.pop(task_id, [])
        for loop, future in waiting:
            loop.call_soon_threadsafe(_resolve, future, document)
        for listener in self.listeners:
            listener(task_id, document)

    def forget(self, task_id: str) -> None:
        with self.lock:
            self.documents.pop(task_id, None)

    def served_by_model(self) -> dict[tuple[str, str], int]:
        """Images answered by each model version since this process started (and in its warm start)."""
        with self.lock:
            return dict(self.served)

    async def wait(self, task_id: str, timeout: float) -> Document | None:
        """The document, as soon as it exists; None if it does not within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Document] = loop.create_future()
        with self.lock:
            if task_id in self.documents:
                return self.documents[task_id]
            self.waiters.setdefault(task_id, []).append((loop, future))
        # It may have landed before this process heard of it (or before it started): look once.
        found = await asyncio.to_thread(_get, result_key(task_id))
        if found is not None:
            self.add(task_id, found)
            return found
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            with self.lock:
                entries = self.waiters.get(task_id, [])
                if (loop, future) in entries:
                    entries.remove((loop, future))
                if not entries:
                    self.waiters.pop(task_id, None)

    def recent(self, label: str | None = None, limit: int = 50, owner: str | None = None) -> list[Document]:
        """The newest documents first; with ``label``, only those that found it; with ``owner``, only theirs."""
        with self.lock:
            documents = list(reversed(self.documents.values()))
        if owner is not None:
            documents = [d for d in documents if owner_of(str(d.get("image_key", ""))) == owner]
        if label:
            wanted = label.strip().lower()
            documents = [d for d in documents if any(x.get("label", "").lower() == wanted
                                                     for x in d.get("detections", ()))]
        return documents[:limit]


def _resolve(future: asyncio.Future[Document], document: Document) -> None:
    if not future.done():
        future.set_result(document)


class _Object(BaseModel):
    key: str = Field(max_length=3 * 1024)  # URL-encoded, so up to three times S3's 1,024 bytes


class _S3(BaseModel):
    object: _Object


class _Record(BaseModel):
    eventName: str = Field(max_length=100)  # noqa: N815 - S3's own field name
    s3: _S3


class _Notice(BaseModel):
    """An S3 event notification, as the results bucket sends it through SNS (raw delivery)."""

    Records: list[_Record] | None = Field(default=None, max_length=100)  # noqa: N815
    Event: str | None = Field(default=None, max_length=100)  # noqa: N815 - "s3:TestEvent" when set up


def _keys(body: str) -> tuple[list[str], list[str]] | None:
    """The new object keys an S3 event notification names, and the removed ones; None for anything that is not a
    notice."""
    try:
        notice = _Notice.model_validate_json(body)
    except (ValidationError, RecursionError):
        return None
    if notice.Records is None:
        return ([], []) if notice.Event else None  # S3's test event, sent once when notifications are set up
    return ([unquote_plus(r.s3.object.key) for r in notice.Records if r.eventName.startswith("ObjectCreated")],
            [unquote_plus(r.s3.object.key) for r in notice.Records if r.eventName.startswith("ObjectRemoved")])


def _get(key: str) -> Document | None:
    """The result document at ``key``, if it is one: anything else in the bucket is skipped (and counted)."""
    try:
        document = documents.read(key, ResultDocument, belongs=lambda found, at: result_key(found.task_id) == at)
    except AWS_ERRORS:
        return None
    return document.model_dump(mode="json", exclude_unset=True) if document else None
