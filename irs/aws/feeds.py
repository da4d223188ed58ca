"""A private queue per listening process, subscribed to an SNS topic; gone when the process is.

The results bucket announces every new result document on the SNS topic
``<prefix>results`` (see :mod:`irs.aws.provision`). Every process that wants those
notices (each web server) gets its own queue, ``<prefix>feed-<random>``,
subscribed to the topic: notices fan out to all of them, and none steals
another's. The queue is removed with its subscription when the process stops;
one left by a process that crashed stops being touched, and :func:`sweep`
(run by every new listener and by the janitor) removes it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass

from irs.aws import queues
from irs.aws.clients import AWS_ERRORS, client
from irs.settings import get_settings

logger = logging.getLogger(__name__)
HEARTBEAT_TAG = "irs-heartbeat"
HEARTBEAT_S = 60.0  # a listener tags its queue this often
ORPHAN_S = 600.0  # a queue untouched this long belongs to a listener that is gone
RETENTION_S = 300  # a notice nobody read in 5 minutes is of no use to anyone
#: What the results bucket announces: a result document landed, or one was erased (the web tier forgets it).
RESULT_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")


def topic_name() -> str:
    return f"{get_settings().queue_prefix}results"


def queue_prefix() -> str:
    return f"{get_settings().queue_prefix}feed-"


def topic_arn() -> str:
    """The results topic's ARN. CreateTopic of an existing topic returns it, and needs a right on that
    one topic only, where listing topics would need one on all of them."""
    arn: str = client("sns").create_topic(Name=topic_name())["TopicArn"]
    return arn


@dataclass
class Subscription:
    queue_url: str
    queue_arn: str
    subscription_arn: str
    beat_at: float = 0.0

    @classmethod
    def open(cls) -> Subscription:
        """A new queue of this process's own, subscribed to the results topic."""
        sqs, sns = client("sqs"), client("sns")
        arn = topic_arn()
        name = f"{queue_prefix()}{secrets.token_hex(6)}"
        # The queue lives in the topic's account and region. It is made with its policy (SNS may send to it)
        # in one call: no identity of IRS may set a queue's attributes afterwards.
        partition, _, region, account = arn.split(":")[1:5]
        queue_arn = f"arn:{partition}:sqs:{region}:{account}:{name}"
        url = sqs.create_queue(QueueName=name, tags={HEARTBEAT_TAG: str(int(time.time()))}, Attributes={
            "MessageRetentionPeriod": str(RETENTION_S), "Policy": json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                    "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": arn}}}]})})["QueueUrl"]
        subscription = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True,
                                     Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
        return cls(url, queue_arn, subscription, time.time())

    def heartbeat(self) -> None:
        """Mark the queue as in use, at most every HEARTBEAT_S, so the sweep leaves it alone."""
        now = time.time()
        if now - self.beat_at >= HEARTBEAT_S:
            client("sqs").tag_queue(QueueUrl=self.queue_url, Tags={HEARTBEAT_TAG: str(int(now))})
            self.beat_at = now

    def close(self) -> None:
        _remove(self.queue_url, self.subscription_arn)


def dangling(subscriptions: list[dict[str, str]], queue_names: set[str], prefix: str) -> list[str]:
    """The subscriptions (their ARNs) that deliver to a queue named with ``prefix`` that no longer exists (its
    listener was killed between removing the queue and the subscription: SNS would deliver to nothing forever).
    List the subscriptions before the queues: a queue exists before its subscription, so a new one is not
    taken for gone."""
    def queue(subscription: dict[str, str]) -> str:
        return subscription.get("Endpoint", "").rsplit(":", 1)[-1]

    return [s["SubscriptionArn"] for s in subscriptions
            if s.get("Protocol") == "sqs" and queue(s).startswith(prefix) and queue(s) not in queue_names
            and s.get("SubscriptionArn", "").startswith("arn:")]


def sweep(now: float | None = None) -> int:
    """Remove the queues (and subscriptions) of listeners that stopped without closing, and subscriptions whose
    queue is gone; returns how many queues and subscriptions."""
    sqs, sns = client("sqs"), client("sns")
    now = time.time() if now is None else now
    listed = [s for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn())
              for s in page.get("Subscriptions", ())]
    urls = sqs.list_queues(QueueNamePrefix=queue_prefix()).get("QueueUrls", [])  # after the subscriptions
    subscriptions = {s["Endpoint"]: s["SubscriptionArn"] for s in listed}
    removed = 0
    for arn in dangling(listed, {url.rsplit("/", 1)[-1] for url in urls}, queue_prefix()):
        _unsubscribe(arn)
        removed += 1
    for url in urls:
        try:
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
            if now - float(tags.get(HEARTBEAT_TAG, 0)) < ORPHAN_S:
                continue
            queue_arn = queues.arn(url)
            _remove(url, subscriptions.get(queue_arn))
            removed += 1
        except AWS_ERRORS as error:
            logger.warning("could not sweep %s: %s", url, error)
    return removed


def _unsubscribe(subscription_arn: str) -> None:
    try:
        client("sns").unsubscribe(SubscriptionArn=subscription_arn)
    except AWS_ERRORS as error:
        logger.warning("could not remove the subscription %s: %s", subscription_arn, error)


def _remove(queue_url: str, subscription_arn: str | None) -> None:
    try:
        if subscription_arn:
            client("sns").unsubscribe(SubscriptionArn=subscription_arn)
        client("sqs").delete_queue(QueueUrl=queue_url)
    except AWS_ERRORS as error:
        logger.warning("could not remove the feed queue %s: %s", queue_url, error)
