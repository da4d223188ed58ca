"""A worker's Prometheus metrics, served by its consumer process at ``IRS_WORKER_METRICS``.

Each result is counted once, by the pool process that made it: summed over
every worker, ``irs_results_total`` is the number of results. The pool
processes and the consumer share the counts through prometheus-client's
multiprocess mode. Celery's command line has imported prometheus-client
before any IRS code runs (Flower's plugin does), so :func:`start` selects that
mode itself, at ``worker_init``, before IRS creates a metric and before the
pool forks. Nothing is created when metrics are off.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irs.results import ResultDocument

MS_BUCKETS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)
#: Owners a process names in its per-owner metrics: the first this many it sees; the rest are counted as ``other``,
#: so a metric's label values stay bounded however many tokens there are.
OWNER_LABELS = 20
_named_owners: set[str] = set()
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class WorkerMetrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        # Written by the consumer alone, and gone with it.
        self.busy = Gauge("irs_worker_busy", "1 while this worker has work in hand", ["pool", "worker"],
                          multiprocess_mode="livemostrecent")
        self.processed = Gauge("irs_worker_processed", "Images this worker has finished since it started",
                               ["pool", "worker"], multiprocess_mode="livemostrecent")
        self.service_seconds = Gauge("irs_worker_service_seconds",
                                     "This worker's recent time per image (moving average)", ["pool", "worker"],
                                     multiprocess_mode="livemostrecent")
        self.results = Counter("irs_results_total", "Result documents this worker wrote", ["pool", "status"])
        self.owner_images = Counter("irs_owner_images_total", "Images this worker answered per owner (the first "
                                    f"{OWNER_LABELS} owners a process sees; the rest as other)", ["owner", "status"])
        self.owner_cpu = Counter("irs_owner_cpu_seconds_total", "Decode and inference time per owner",
                                 ["owner"])
        self.stage_ms = Histogram("irs_stage_milliseconds", "Time an image spent in each stage", ["stage", "pool"],
                                  buckets=MS_BUCKETS)
        self.refused = _refused_counter()


_metrics: WorkerMetrics | None = None


def start(address: str) -> None:
    """Create the metrics and serve them at ``host:port``, in the consumer before its pool forks."""
    global _metrics
    from prometheus_client import CollectorRegistry, start_http_server, values
    from prometheus_client.multiprocess import MultiProcessCollector

    os.environ.setdefault(MULTIPROC_ENV, tempfile.mkdtemp(prefix="irs-worker-metrics-"))
    values.ValueClass = values.get_value_class()  # what the environment variable selects at import
    _metrics = WorkerMetrics()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)


def process_exited(pid: int) -> None:
    """Forget a pool process's live gauges (its counts stay counted)."""
    if _metrics is not None:  # metrics on means multiprocess mode (start)
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def record_worker(pool: str, worker: str, busy: bool, processed: int, service_ms: float | None) -> None:
    if _metrics is None:
        return
    _metrics.busy.labels(pool, worker).set(int(busy))
    _metrics.processed.labels(pool, worker).set(processed)
    if service_ms is not None:
        _metrics.service_seconds.labels(pool, worker).set(service_ms / 1000)


def record_result(document: ResultDocument) -> None:
    """Count one result document and its stage timings (in the pool process that made it)."""
    if _metrics is None:
        return
    pool = document.pool or "unknown"
    _metrics.results.labels(pool, document.status).inc()
    owner = owner_label(document.owner)
    _metrics.owner_images.labels(owner, document.status).inc()
    timings = document.timings_ms
    _metrics.owner_cpu.labels(owner).inc(((timings.decode or 0) + (timings.inference or 0)) / 1000 if timings else 0)
    for stage, ms in (document.timings_ms.model_dump(exclude_none=True) if document.timings_ms else {}).items():
        _metrics.stage_ms.labels(stage, pool).observe(ms)


def owner_label(owner: str | None) -> str:
    """``owner`` as a metric's label: its name if it is among the first OWNER_LABELS this process saw, else other."""
    if owner is None:
        return "-"
    if owner in _named_owners or len(_named_owners) < OWNER_LABELS:
        _named_owners.add(owner)
        return owner
    return "other"


def record_refused(outcome: str) -> None:
    """A message turned away by the transport: ``dead_lettered`` or ``dropped``. Counted in this worker's
    metrics, or in the process's own registry in a process that is not a worker (Flower, a client)."""
    (_metrics.refused if _metrics is not None else _refused_elsewhere()).labels(outcome).inc()


def _refused_counter() -> Any:
    """Messages turned away: in a worker's multiprocess registry, or once in another process's own."""
    from prometheus_client import Counter

    return Counter("irs_messages_refused_total", "Messages that were not IRS's, by what became of them",
                   ["outcome"])


_refused_elsewhere = cache(_refused_counter)
