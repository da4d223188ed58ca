"""IRS's Prometheus metrics: one set of names, filled by whichever process sees the numbers.

The web tier (``/metrics``) sees every result document pushed to it and samples
the queues and the autoscaler's state, so it carries the fleet-wide numbers;
the autoscaler (``irs autoscale --metrics-port``) carries its own decisions;
each worker (``IRS_WORKER_METRICS``) whether it is busy, how much it has done
and how long an image takes it;
any process that routes requests counts its routing decisions. Flower's own
``/metrics`` adds the per-worker task counts.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

STAGES = ("queue_wait", "upload", "download", "decode", "inference")
_MS_BUCKETS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)

queue_depth = Gauge("irs_queue_messages", "Messages in a pool's queue", ["pool", "state"])
workers = Gauge("irs_workers", "Workers that reported recently", ["pool"])
results = Counter("irs_results_total", "Result documents seen", ["pool", "status"])
stage_ms = Histogram("irs_stage_milliseconds", "Time an image spent in each stage", ["stage", "pool"],
                     buckets=_MS_BUCKETS)
autoscaler_instances = Gauge("irs_autoscaler_instances", "The autoscaler's fleet", ["pool", "state"])
worker_busy = Gauge("irs_worker_busy", "1 while this worker has work in hand", ["pool", "instance"])
worker_processed = Gauge("irs_worker_processed", "Images this worker has finished since it started",
                         ["pool", "instance"])
worker_service_seconds = Gauge("irs_worker_service_seconds", "This worker's recent time per image (moving average)",
                               ["pool", "instance"])
route_decisions = Counter("irs_route_decisions_total", "Routing decisions made by this process",
                          ["pool", "why"])


def observe_result(document: dict[str, Any]) -> None:
    """Count one result document and its stage timings."""
    pool = str(document.get("pool", "unknown"))
    results.labels(pool, str(document.get("status", "unknown"))).inc()
    for stage, ms in (document.get("timings_ms") or {}).items():
        if stage in STAGES and isinstance(ms, int | float):
            stage_ms.labels(stage, pool).observe(ms)


def observe_pools(pools: list[dict[str, Any]]) -> None:
    for pool in pools:
        for state in ("waiting", "in_flight", "delayed", "dead_lettered"):
            queue_depth.labels(pool["pool"], state).set(pool[state])
        workers.labels(pool["pool"]).set(pool["workers"])


def observe_autoscaler(pool: str, desired: int, running: int, pending: int) -> None:
    for state, count in (("desired", desired), ("running", running), ("pending", pending)):
        autoscaler_instances.labels(pool, state).set(count)


def observe_route(pool: str, reason: str) -> None:
    """Count a routing decision by the kind of its reason (its first words, not its numbers)."""
    why = ("pinned" if reason.startswith("pinned") else "no edge" if "no edge worker" in reason
           else "no observations" if "no fresh observations" in reason else "measuring" if "measures it" in reason
           else "sooner")
    route_decisions.labels(pool, why).inc()


def observe_worker(pool: str, instance: str, busy: bool, processed: int, service_ms: float | None) -> None:
    worker_busy.labels(pool, instance).set(int(busy))
    worker_processed.labels(pool, instance).set(processed)
    if service_ms is not None:
        worker_service_seconds.labels(pool, instance).set(service_ms / 1000)
