"""Queues whose consumer is gone: control and event queues that monitoring left behind.

A consumer that stops cleanly removes its auto-delete queue (the monitoring
transport's ``Channel.close``). One that crashes leaves the queue, and its SNS
subscription keeps filling it. A live consumer drains its queue within
seconds, so a control or event queue holding visible messages at two sweeps a
minute apart has nobody behind it; a reply queue outlives its ``inspect`` call
by far less than ``REPLY_MAX_AGE_S``. (Result-feed queues left by dead web
processes are found by their heartbeat tag: :func:`irs.aws.feeds.sweep`.) A
subscription whose queue is gone (its consumer killed between removing the
queue and the subscription) is removed too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from irs.aws.clients import AWS_ERRORS, client
from irs.aws.feeds import dangling
from irs.settings import get_settings

logger = logging.getLogger(__name__)
MONITORING_QUEUE_MARKERS = ("-celeryev-", "-celery-pidbox")
REPLY_MARKER = "-reply-celery-pidbox"
REPLY_MAX_AGE_S = 3600.0


@dataclass(frozen=True)
class QueueSeen:
    name: str
    visible: int
    created_at: float


def orphans(seen: list[QueueSeen], suspects: set[str], now: float) -> tuple[set[str], set[str]]:
    """(queues to remove, suspects for the next sweep) from what each monitoring queue holds now."""
    remove: set[str] = set()
    backlogged: set[str] = set()
    for queue in seen:
        if queue.name.endswith(REPLY_MARKER) and now - queue.created_at > REPLY_MAX_AGE_S:
            remove.add(queue.name)
        elif queue.visible > 0:
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
            seen.append(QueueSeen(name, int(found["ApproximateNumberOfMessages"]), float(found["CreatedTimestamp"])))
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
