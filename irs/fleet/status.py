"""What each pool looks like right now: its queue (waiting, in flight, dead-lettered), its workers, its share.

The ``jobs`` queue has a row too: its workers are the cloud's, which serve it after their own queue, and the
images they answer for it are counted in the cloud's row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from irs.aws import queues
from irs.fleet import reports
from irs.pools import CLOUD, JOBS
from irs.settings import Settings


@dataclass(frozen=True)
class PoolStatus:
    pool: str
    waiting: int  # ApproximateNumberOfMessages
    in_flight: int  # ApproximateNumberOfMessagesNotVisible
    delayed: int  # ApproximateNumberOfMessagesDelayed (retries waiting out their backoff)
    dead_lettered: int  # messages in the pool's dead-letter queue
    workers: int  # workers that reported recently
    busy_workers: int
    served: int  # images its live workers have finished since they started: the edge/cloud split
    service_ms: float | None  # its workers' recent time per image
    default_models: list[str]  # its workers' own IRS_MODEL: what a request that names no model got before IRS
    # named the deployment's default in every request (an old producer's still does)
    models: list[str]  # the built-in models its workers hold: a request naming another is not routed here

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def pool_status(settings: Settings | None = None) -> list[PoolStatus]:
    result = []
    for names in queues.queue_names(settings):
        queue, dead = queues.depth(names.queue), queues.depth(names.dead_letter)
        jobs = names.pool == JOBS
        found = reports.read(CLOUD if jobs else names.pool)
        result.append(PoolStatus(
            pool=names.pool,
            waiting=queue.waiting,
            in_flight=queue.in_flight,
            delayed=queue.delayed,
            dead_lettered=dead.total,
            workers=len(found),
            busy_workers=sum(r.busy for r in found.values()),
            served=0 if jobs else sum(r.processed for r in found.values()),
            service_ms=None if jobs else _mean([r.service_ms for r in found.values() if r.service_ms]),
            default_models=sorted({r.model for r in found.values() if r.model}),
            models=sorted({m for r in found.values() for m in r.models or ()}),
        ))
    return result


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None
