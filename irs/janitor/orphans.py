"""Queues whose consumer is gone: control and event queues that monitoring left behind.

A consumer that stops cleanly removes its auto-delete queue (the monitoring
transport's ``Channel.close``). One that crashes leaves the queue, and its SNS
subscription keeps filling it. A live consumer tags its queue while it polls
(``irs-heartbeat``, every ``HEARTBEAT_S``), so a queue tagged recently is never
removed, however far behind its consumer is (Flower in a flood). A control or
event queue holding visible messages at two sweeps a minute apart, and not
tagged recently, has nobody behind it; a reply queue outlives its ``inspect`` call
by far less than ``REPLY_MAX_AGE_S``. (Result-feed queues left by dead web
processes are found by their heartbeat tag: :func:`irs.aws.feeds.sweep`.) A
subscription whose queue is gone (its consumer killed between removing the
queue and the subscription) is removed too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from irs.aws.clients import AWS_ERRORS, client
from irs.aws.feeds import HEARTBEAT_S, HEARTBEAT_TAG, dangling
from irs.settings import get_settings

logger = logging.getLogger(__name__)
MONITORING_QUEUE_MARKERS = ("-celeryev-", "-celery-pidbox")
REPLY_MARKER = "-reply-celery-pidbox"
REPLY_MAX_AGE_S = 3600.0


ALIVE_S = 3 * HEARTBEAT_S  # a consumer that tagged its queue within this is alive


@dataclass(frozen=True)
class QueueSeen:
    name: str
    visible: int
    created_at: float
    heartbeat_at: float | None = None  # when its consumer last said it polls (None: never, or not read)


def orphans(seen: list[QueueSeen], suspects: set[str], now: float) -> tuple[set[str], set[str]]:
    """(queues to remove, suspects for the next sweep) from what each monitoring queue holds now."""
    remove: set[str] = set()
    backlogged: set[str] = set()
    for queue in seen:
        if queue.name.endswith(REPLY_MARKER) and now - queue.created_at > REPLY_MAX_AGE_S:
            remove.add(queue.name)
        elif queue.visible > 0 and not (queue.heartbeat_at is not None and now - queue.heartbeat_at < ALIVE_S):
            (remove if queue.name in suspects else backlogged).add(queue.name)
    return remove, backlogged


class Sweeper:
    """Finds and removes orphaned control and event queues, with their SNS subscriptions."""

    def __init__(self) -> None:
        self.suspects: set[str] = set()

    def sweep(self) -> list[str]:
        sqs, sns = client("sqs"), client("sns")
        prefix = get_settings().queue_prefix
        subscriptions = [s for page in sns.get_paginator("list_subscriptions").paginate()  # before the queues
                         for s in page.get("Subscriptions", ())
                         if any(m in s.get("Endpoint", "") for m in MONITORING_QUEUE_MARKERS)]
        urls = [u for u in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
                if any(marker in u.rsplit("/", 1)[-1] for marker in MONITORING_QUEUE_MARKERS)]
        seen, by_name = [], {}
        for url in urls:
            try:
                found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                    "ApproximateNumberOfMessages", "CreatedTimestamp", "QueueArn"])["Attributes"]
            except AWS_ERRORS:
                continue  # removed since the listing
            name = url.rsplit("/", 1)[-1]
            by_name[name] = (url, found["QueueArn"])
            visible = int(found["ApproximateNumberOfMessages"])
            seen.append(QueueSeen(name, visible, float(found["CreatedTimestamp"]),
                                  self._heartbeat(sqs, url) if visible else None))
        remove, self.suspects = orphans(seen, self.suspects, time.time())
        gone = dangling(subscriptions, set(by_name), prefix)
        for arn in gone:  # a consumer killed between removing its queue and its subscription
            sns.unsubscribe(SubscriptionArn=arn)
            logger.info("removed the subscription %s: its queue is gone", arn)
        if remove:
            arns = {by_name[name][1] for name in remove}
            for subscription in subscriptions:
                if subscription["Endpoint"] in arns:
                    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
            for name in remove:
                sqs.delete_queue(QueueUrl=by_name[name][0])
                logger.info("removed %s: its consumer is gone", name)
        return sorted(remove)

    @staticmethod
    def _heartbeat(sqs: Any, url: str) -> float | None:
        """When the queue's consumer last tagged it (only a backlogged queue's tags are read)."""
        try:
            tag = sqs.list_queue_tags(QueueUrl=url).get("Tags", {}).get(HEARTBEAT_TAG)
        except AWS_ERRORS:
            return None
        try:
            return float(tag) if tag is not None else None
        except ValueError:
            return None
