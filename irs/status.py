"""What each pool looks like right now: its queue (waiting, in flight, dead-lettered), its workers, its share."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from irs import aws, fleet
from irs.provision import queue_names
from irs.settings import Settings


@dataclass(frozen=True)
class PoolStatus:
    pool: str
    waiting: int  # ApproximateNumberOfMessages
    in_flight: int  # ApproximateNumberOfMessagesNotVisible
    delayed: int  # ApproximateNumberOfMessagesDelayed (retries waiting out their backoff)
    dead_lettered: int  # messages in the pool's dead-letter queue
    workers: int  # workers that reported in the last two minutes
    busy_workers: int
    served: int  # images its live workers have finished since they started: the edge/cloud split
    service_ms: float | None  # its workers' recent time per image

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
               "ApproximateNumberOfMessagesDelayed"]


def _attributes(queue: str) -> dict[str, int]:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_ATTRIBUTES)["Attributes"]
    return {name: int(found.get(name, 0)) for name in _ATTRIBUTES}


def pool_status(settings: Settings | None = None) -> list[PoolStatus]:
    result = []
    for names in queue_names(settings):
        queue, dead = _attributes(names.queue), _attributes(names.dead_letter)
        reports = fleet.read(names.pool)
        result.append(PoolStatus(
            pool=names.pool,
            waiting=queue["ApproximateNumberOfMessages"],
            in_flight=queue["ApproximateNumberOfMessagesNotVisible"],
            delayed=queue["ApproximateNumberOfMessagesDelayed"],
            dead_lettered=sum(dead.values()),
            workers=len(reports),
            busy_workers=sum(r.busy for r in reports.values()),
            served=sum(r.processed for r in reports.values()),
            service_ms=_mean([r.service_ms for r in reports.values() if r.service_ms]),
        ))
    return result


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None
