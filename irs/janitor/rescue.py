"""Requests stranded at the edge go to the cloud.

The router never sends to an edge nobody serves, but a request can still be
left there: its edge worker died mid-task (SQS makes it visible again after
the visibility timeout, to nobody), or the last edge worker went away while
requests waited. When no edge worker has reported for a while, whatever is
visible in the edge queue is moved to the cloud queue, message for message
(send, then delete: at worst a request is served twice, never lost, and its
result document is written once, by its task id). The janitor runs this
every few seconds (:mod:`irs.janitor.schedule`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from irs.aws import queues
from irs.aws.clients import client
from irs.fleet import reports
from irs.fleet.liveness import WORKER_GONE_S
from irs.pools import CLOUD, EDGE

logger = logging.getLogger(__name__)


def stranded(edge_workers: int, visible: int) -> bool:
    """Whether the edge queue's visible requests have nobody to serve them."""
    return edge_workers == 0 and visible > 0


def rescue(silent_s: float = WORKER_GONE_S, limit: int = 500) -> int:
    """Move visible edge requests to the cloud if no edge worker lives; returns how many moved.

    Runs every few seconds, so the usual answer costs one request: the edge queue is empty.
    """
    sqs = client("sqs")
    edge, cloud = queues.url(queues.names(EDGE).queue), queues.url(queues.names(CLOUD).queue)
    visible = queues.pool_depth(EDGE).waiting
    if not visible:
        return 0
    now = time.time()
    alive = [r for r in reports.read(EDGE, now).values() if now - r.updated_at < silent_s]
    if not stranded(len(alive), visible):
        return 0
    moved = 0
    while moved < limit:
        messages = sqs.receive_message(QueueUrl=edge, MaxNumberOfMessages=queues.SQS_BATCH, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        sqs.send_message_batch(QueueUrl=cloud, Entries=[_entry(n, m) for n, m in enumerate(messages)])
        sqs.delete_message_batch(QueueUrl=edge, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
        moved += len(messages)
    if moved:
        logger.info("no edge worker lives: moved %d stranded request(s) from the edge queue to the cloud", moved)
    return moved


def _entry(n: int, message: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(n), "MessageBody": message["Body"]}
    if message.get("MessageAttributes"):
        entry["MessageAttributes"] = message["MessageAttributes"]
    return entry
