"""Routing decisions as a Prometheus counter, by pool and cause: each process counts the requests it routed.

Created on the first decision, not at import; the web app's ``/metrics`` is
where a scrape sees them (``irs classify`` serves no metrics).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from irs.routing.fairness import Admission
from irs.routing.policy import Choice, Move


@cache
def _decisions() -> Any:
    from prometheus_client import Counter

    return Counter("irs_route_decisions_total", "Routing decisions made by this process", ["pool", "cause"])


def record_choice(choice: Choice) -> None:
    _decisions().labels(choice.pool, choice.cause.value).inc()


@cache
def _moves() -> Any:
    from prometheus_client import Counter

    return Counter("irs_requests_moved_total", "Queued requests moved between pools, by source, target and cause",
                   ["source", "target", "cause"])


def record_move(move: Move, count: int) -> None:
    _moves().labels(move.source, move.target, move.cause.value).inc(count)


@cache
def _admissions() -> Any:
    from prometheus_client import Counter

    return Counter("irs_fair_admissions_total", "Requests this process admitted, by lane and cause (owners' shares "
                   "of the interactive queues)", ["lane", "cause"])


def record_admission(admission: Admission) -> None:
    _admissions().labels(admission.lane.value, admission.cause.value).inc()
