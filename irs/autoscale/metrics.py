"""The autoscaler's Prometheus metrics (``irs autoscale --metrics-port``): exported by this one process only.

Created on first use, not at import.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from irs.autoscale.policy import Decision


@cache
def _metrics() -> tuple[Any, Any]:
    from prometheus_client import Counter, Gauge

    instances = Gauge("irs_autoscaler_instances", "The autoscaler's fleet", ["pool", "state"])
    decisions = Counter("irs_autoscaler_decisions_total", "Scaling decisions that launched or terminated, by cause",
                        ["pool", "cause"])
    return instances, decisions


def record_decision(pool: str, decision: Decision, running: int, pending: int) -> None:
    instances, decisions = _metrics()
    for state, count in (("desired", decision.desired), ("running", running), ("pending", pending)):
        instances.labels(pool, state).set(count)
    if decision.launch or decision.terminate:
        for cause in decision.causes:
            decisions.labels(pool, cause.value).inc()
