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
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote_plus

from irs.aws import clients, documents, feeds
from irs.aws.clients import AWS_ERRORS, AWS_OR_NETWORK_ERRORS, error_code
from irs.results import result_key, task_id_of
from irs.settings import get_settings

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
                    for key in _keys(message["Body"]):
                        self._landed(key)
                if messages:
                    sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
            except AWS_OR_NETWORK_ERRORS as error:
                if "NonExistentQueue" in error_code(error):
                    self.subscription = None  # swept or deleted under us: subscribe anew
                logger.warning("results feed: %s; trying again in 2 s", error)
                self.stop.wait(2)

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
            self.documents[task_id] = document
            self.documents.move_to_end(task_id)
            while len(self.documents) > KEEP:
                self.documents.popitem(last=False)
            waiting = self.waiters.pop(task_id, [])
        for loop, future in waiting:
            loop.call_soon_threadsafe(_resolve, future, document)

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

    def recent(self, label: str | None = None, limit: int = 50) -> list[Document]:
        """The newest documents first; with ``label``, only those that found it."""
        with self.lock:
            documents = list(reversed(self.documents.values()))
        if label:
            wanted = label.strip().lower()
            documents = [d for d in documents if any(x.get("label", "").lower() == wanted
                                                     for x in d.get("detections", ()))]
        return documents[:limit]


def _resolve(future: asyncio.Future[Document], document: Document) -> None:
    if not future.done():
        future.set_result(document)


def _keys(body: str) -> list[str]:
    """The object keys an S3 event notification names (none for its test event or anything else)."""
    try:
        records = json.loads(body).get("Records", [])
        return [unquote_plus(r["s3"]["object"]["key"]) for r in records if r.get("eventName", "").startswith(
            "ObjectCreated")]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def _get(key: str) -> Document | None:
    try:
        document = documents.get(key)
    except AWS_ERRORS:
        return None
    except ValueError:
        return None  # not JSON
    return document if isinstance(document, dict) else None
