"""What the router knows about each pool: read rarely and off the publishing path.

Queue attributes are read at most once per ``QUEUE_TTL_S`` per pool and the
workers' reports once per ``FLEET_TTL_S``, by a background thread that a stale
view wakes; a request routes on the freshest view there is and never waits for
AWS, except the very first one of a process. Requests routed since the last
read are added to the queue they were sent to, so a burst submitted within a
second does not all land on whichever pool looked emptiest at its start.
Errors leave no views, which routes to the cloud.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from irs import aws, fleet
from irs.provision import queue_names
from irs.routing.policy import CLOUD, EDGE, PoolView

logger = logging.getLogger(__name__)
QUEUE_TTL_S = 1.0
FLEET_TTL_S = 5.0
STALE_S = 30.0  # views older than this are not trusted at all
# Service times to assume before any worker of a pool has reported one: the cloud's from the
# throughput benchmark (worker CPU per image); the edge's a Raspberry Pi 4 estimate.
DEFAULT_SERVICE_S = {CLOUD: 0.063, EDGE: 1.5}
POOLS = (CLOUD, EDGE)


@dataclass(frozen=True)
class _Depth:
    read_at: float
    waiting: int
    in_flight: int


class Observer:
    def __init__(self) -> None:
        self.clock = time.monotonic
        self.lock = threading.Lock()
        self.urls: dict[str, str] = {}
        self.depths: dict[str, _Depth] = {}
        self.sent: dict[str, int] = {}  # routed here since the depth was read
        self.reports: dict[str, fleet.WorkerReport] = {}
        self.reports_at = -FLEET_TTL_S
        self.refreshing = threading.Event()

    def views(self) -> dict[str, PoolView] | None:
        """Each pool's view, or None when there is no fresh enough observation."""
        now = self.clock()
        if not self.depths:
            self._refresh()  # the first request of a process waits for one observation
        elif any(now - d.read_at >= QUEUE_TTL_S for d in self.depths.values()) and not self.refreshing.is_set():
            self.refreshing.set()
            threading.Thread(target=self._refresh, name="irs-route-observer", daemon=True).start()
        with self.lock:
            if len(self.depths) < len(POOLS) or any(now - d.read_at > STALE_S for d in self.depths.values()):
                return None
            return {pool: self._view(pool) for pool in POOLS}

    def sent_to(self, pool: str) -> None:
        with self.lock:
            self.sent[pool] = self.sent.get(pool, 0) + 1

    def _view(self, pool: str) -> PoolView:
        depth = self.depths[pool]
        reports = [r for r in self.reports.values() if r.pool == pool and not r.draining]
        services = [r.service_ms / 1000 for r in reports if r.service_ms]
        return PoolView(pool, depth.waiting + self.sent.get(pool, 0), depth.in_flight, workers=len(reports),
                        slots=sum(r.slots for r in reports),
                        service_s=sum(services) / len(services) if services else DEFAULT_SERVICE_S[pool])

    def _refresh(self) -> None:
        try:
            depths = {pool: self._read_depth(pool) for pool in POOLS}
            reports = None
            if self.clock() - self.reports_at >= FLEET_TTL_S:
                reports = {**fleet.read(CLOUD), **fleet.read(EDGE)}
            with self.lock:
                self.depths.update(depths)
                self.sent = {}
                if reports is not None:
                    self.reports, self.reports_at = reports, self.clock()
        except (ClientError, BotoCoreError, OSError) as error:
            logger.warning("cannot observe the pools (%s): routing to the cloud until I can", error)
        finally:
            self.refreshing.clear()

    def _read_depth(self, pool: str) -> _Depth:
        sqs = aws.client("sqs")
        if pool not in self.urls:
            name = next(n.queue for n in queue_names() if n.pool == pool)
            self.urls[pool] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        found = sqs.get_queue_attributes(QueueUrl=self.urls[pool], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return _Depth(self.clock(), int(found["ApproximateNumberOfMessages"]),
                      int(found["ApproximateNumberOfMessagesNotVisible"]))
