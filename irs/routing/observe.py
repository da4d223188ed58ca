"""What the router knows about each pool: read rarely, reused for every request in between.

Queue attributes are read at most once per ``QUEUE_TTL_S`` per pool and the
workers' reports once per ``FLEET_TTL_S``; in between, each request routed
from this process is added to the queue it was sent to, so a burst submitted
within one second does not all land on whichever pool looked emptiest at its
start. Errors leave the views empty, which routes to the cloud.
"""

from __future__ import annotations

import logging
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from irs import aws, fleet
from irs.provision import queue_names
from irs.routing.policy import CLOUD, EDGE, PoolView

logger = logging.getLogger(__name__)
QUEUE_TTL_S = 1.0
FLEET_TTL_S = 5.0
# Service times to assume before any worker of a pool has reported one: the cloud's from the
# throughput benchmark (worker CPU per image); the edge's a Raspberry Pi 4 estimate (BENCHMARKS.md).
DEFAULT_SERVICE_S = {CLOUD: 0.063, EDGE: 1.5}


class Observer:
    def __init__(self) -> None:
        self.clock = time.monotonic
        self.lock = threading.Lock()
        self.urls: dict[str, str] = {}
        self.depth: dict[str, tuple[float, int, int]] = {}  # pool -> (read at, waiting, in flight)
        self.sent: dict[str, int] = {}  # routed here since the depth was read
        self.workers: tuple[float, dict[str, fleet.WorkerReport]] = (-FLEET_TTL_S, {})

    def views(self) -> dict[str, PoolView] | None:
        """Each pool's view, or None when the pools cannot be observed right now."""
        try:
            with self.lock:
                return {pool: self._view(pool) for pool in (CLOUD, EDGE)}
        except (ClientError, BotoCoreError, OSError) as error:
            logger.warning("cannot observe the pools (%s): routing to the cloud", error)
            return None

    def sent_to(self, pool: str) -> None:
        with self.lock:
            self.sent[pool] = self.sent.get(pool, 0) + 1

    def _view(self, pool: str) -> PoolView:
        now = self.clock()
        read_at, waiting, in_flight = self.depth.get(pool, (-QUEUE_TTL_S, 0, 0))
        if now - read_at >= QUEUE_TTL_S:
            waiting, in_flight = self._read_depth(pool)
            self.depth[pool], self.sent[pool] = (now, waiting, in_flight), 0
        reports = [r for r in self._reports().values() if r.pool == pool and not r.draining]
        services = [r.service_ms / 1000 for r in reports if r.service_ms]
        return PoolView(pool, waiting + self.sent.get(pool, 0), in_flight, workers=len(reports),
                        slots=sum(r.slots for r in reports),
                        service_s=sum(services) / len(services) if services else DEFAULT_SERVICE_S[pool])

    def _read_depth(self, pool: str) -> tuple[int, int]:
        sqs = aws.client("sqs")
        if pool not in self.urls:
            name = next(n.queue for n in queue_names() if n.pool == pool)
            self.urls[pool] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        found = sqs.get_queue_attributes(QueueUrl=self.urls[pool], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(found["ApproximateNumberOfMessages"]), int(found["ApproximateNumberOfMessagesNotVisible"])

    def _reports(self) -> dict[str, fleet.WorkerReport]:
        read_at, reports = self.workers
        if self.clock() - read_at >= FLEET_TTL_S:
            reports = {**fleet.read(CLOUD), **fleet.read(EDGE)}
            self.workers = (self.clock(), reports)
        return reports

