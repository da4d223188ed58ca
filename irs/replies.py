"""Results pushed back to the submitter over a private SQS reply queue.

S3 has no push, so waiting on the result document means polling it. A
submitter that wants its results as soon as they exist (``irs classify``, the
benchmark) instead creates a reply queue, names it in each request's
``irs_reply_to`` header, and long-polls it: the worker sends the document
there right after writing it to S3. One ReceiveMessage then returns up to ten
results the moment they land, with no polling in between.

The S3 document stays the record: a reply lost or never sent (an old worker, a
full queue) is found there. Reply queues are deleted when their submitter is
done; :func:`sweep` removes those a crashed submitter left behind.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from irs import aws
from irs.settings import Settings, get_settings

logger = logging.getLogger(__name__)
REPLY_TO = "irs_reply_to"  # message header: the reply queue's URL
CREATED_TAG = "irs-created"  # epoch seconds, so leftovers can be swept


def _prefix(settings: Settings) -> str:
    return f"{settings.queue_prefix}replies-"


def send(queue_url: str, body: str) -> None:
    """Push a result document to its submitter; never raises (the S3 copy is the record)."""
    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    if not name.startswith(_prefix(get_settings())):
        logger.warning("not replying to %s: not an IRS reply queue", queue_url)
        return
    try:
        aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)
    except (ClientError, BotoCoreError) as error:
        logger.info("could not reply to %s (the document is in S3): %s", queue_url, error)


class ReplyQueue:
    """A submitter's private reply queue, deleted on exit."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.name = f"{_prefix(self.settings)}{uuid.uuid4().hex[:16]}"
        self.url = ""

    def __enter__(self) -> ReplyQueue:
        self.url = aws.client("sqs").create_queue(
            QueueName=self.name,
            Attributes={"MessageRetentionPeriod": "3600", "ReceiveMessageWaitTimeSeconds": "20"},
            tags={CREATED_TAG: str(int(time.time()))},
        )["QueueUrl"]
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            aws.client("sqs").delete_queue(QueueUrl=self.url)
        except (ClientError, BotoCoreError) as failure:
            logger.warning("could not delete reply queue %s (irs provision sweeps it later): %s", self.name, failure)

    def receive(self, wait: float) -> Iterator[dict[str, Any]]:
        """Documents that arrive within ``wait`` seconds (returns at the first batch)."""
        sqs = aws.client("sqs")
        response = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=max(0, min(20, int(wait))))
        messages = response.get("Messages", [])
        if messages:
            sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
        for message in messages:
            yield json.loads(message["Body"])


def sweep(max_age_seconds: float = 24 * 3600, settings: Settings | None = None) -> list[str]:
    """Delete reply queues older than ``max_age_seconds``; returns their names."""
    settings = settings or get_settings()
    sqs = aws.client("sqs")
    removed = []
    for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=_prefix(settings)):
        for url in page.get("QueueUrls", []):
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
            if time.time() - float(tags.get(CREATED_TAG, 0)) > max_age_seconds:
                sqs.delete_queue(QueueUrl=url)
                removed.append(url.rsplit("/", 1)[-1])
    return removed
