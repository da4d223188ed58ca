"""The SQS queues of the pools: their names, their URLs, and how deep they are.

Every pool (and an edge device's own queue) has a queue ``<prefix><pool>`` and
a dead-letter queue ``<prefix><pool>-dlq``. URLs are looked up once per
process; depth is read with one GetQueueAttributes call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from irs.aws.clients import client
from irs.pools import JOBS, POOLS, device_queue, served_by
from irs.settings import Settings, get_settings

DEAD_LETTER_SUFFIX = "-dlq"
#: The queue S3 sends the watched buckets' notices to (:mod:`irs.jobs.watch`); not a queue of requests.
WATCH = "watch"
SQS_BATCH = 10  # the most entries one SQS batch request (send, delete, receive) takes
#: The most one message may hold, body and attributes together; one batch of sends may hold no more in all.
SQS_MAX_MESSAGE_BYTES = 256 * 1024
_DEPTH = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
          "ApproximateNumberOfMessagesDelayed")


@dataclass(frozen=True)
class QueueNames:
    pool: str
    queue: str
    dead_letter: str


@dataclass(frozen=True)
class Depth:
    waiting: int  # ApproximateNumberOfMessages
    in_flight: int  # ApproximateNumberOfMessagesNotVisible: received, not yet acknowledged
    delayed: int  # ApproximateNumberOfMessagesDelayed: retries waiting out their backoff

    @property
    def backlog(self) -> int:
        """Requests not yet answered: waiting or in service."""
        return self.waiting + self.in_flight

    @property
    def total(self) -> int:
        return self.waiting + self.in_flight + self.delayed

    def __add__(self, other: Depth) -> Depth:
        return Depth(self.waiting + other.waiting, self.in_flight + other.in_flight, self.delayed + other.delayed)


def message_attribute_bytes(attributes: dict[str, dict[str, str]]) -> int:
    """What message attributes count towards a message's size: each name, data type and value."""
    return sum(len(name.encode()) + len(value["DataType"].encode()) + len(value.get("StringValue", "").encode())
               for name, value in attributes.items())


def message_bytes(body: str, attributes: dict[str, dict[str, str]] | None = None) -> int:
    """A message's size as SQS counts it against ``SQS_MAX_MESSAGE_BYTES``."""
    return len(body.encode()) + message_attribute_bytes(attributes or {})


def celery_queues(settings: Settings) -> tuple[str, ...]:
    """The Celery queues this process knows: the pools and the jobs queue, plus an edge device's own."""
    own = device_queue(settings.device_id)
    return (*POOLS, JOBS, own) if own else (*POOLS, JOBS)


def queue_names(settings: Settings | None = None) -> list[QueueNames]:
    settings = settings or get_settings()
    return [names(pool, settings) for pool in celery_queues(settings)]


def names(pool: str, settings: Settings | None = None) -> QueueNames:
    return named(pool, (settings or get_settings()).queue_prefix)


def named(pool: str, prefix: str) -> QueueNames:
    return QueueNames(pool, f"{prefix}{pool}", f"{prefix}{pool}{DEAD_LETTER_SUFFIX}")


@cache
def url(name: str) -> str:
    """The URL of the SQS queue ``name`` (looked up once per process)."""
    found: str = client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
    return found


def arn(queue_url: str) -> str:
    """The ARN of the queue at ``queue_url`` (what SNS subscriptions and redrive policies name)."""
    found: str = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return found


def depth(name: str) -> Depth:
    """How many messages the SQS queue ``name`` holds, by state."""
    found = client("sqs").get_queue_attributes(QueueUrl=url(name), AttributeNames=list(_DEPTH))["Attributes"]
    waiting, in_flight, delayed = (int(found.get(attribute, 0)) for attribute in _DEPTH)
    return Depth(waiting, in_flight, delayed)


def pool_depth(pool: str) -> Depth:
    return depth(names(pool).queue)


def served_depth(pool: str) -> Depth:
    """The work waiting for ``pool``'s workers: its own queue and the others it serves (the cloud's, the jobs')."""
    found = [depth(names(queue).queue) for queue in served_by(pool)]
    return sum(found[1:], found[0])
