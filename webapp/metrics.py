"""The web tier's Prometheus metrics, at its ``/metrics``: the pools as its status sampler sees them.

Every web replica samples the same queues, so these are gauges of one shared
fact: aggregate them across replicas with ``max``, not ``sum``. Results and
stage timings are counted by the workers that make them
(:mod:`irs.metrics`), the autoscaler's fleet by the autoscaler, and
routing decisions by whichever process routes (:mod:`irs.routing.metrics`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

QUEUE_STATES = ("waiting", "in_flight", "delayed", "dead_lettered")


@cache
def _dropped() -> Any:
    from prometheus_client import Counter

    return Counter("irs_feed_messages_dropped_total", "Messages on this process's results feed that were not "
                   "S3 notices of a result document it could read")


def record_feed_dropped() -> None:
    _dropped().inc()


@cache
def _gauges() -> tuple[Any, Any]:
    from prometheus_client import Gauge

    depth = Gauge("irs_queue_messages", "Messages in a pool's queue", ["pool", "state"])
    workers = Gauge("irs_workers", "Workers that reported recently", ["pool"])
    return depth, workers


def record_pools(pools: list[dict[str, Any]]) -> None:
    depth, workers = _gauges()
    for pool in pools:
        for state in QUEUE_STATES:
            depth.labels(pool["pool"], state).set(pool[state])
        workers.labels(pool["pool"]).set(pool["workers"])
