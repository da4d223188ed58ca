"""The routing decision: a pure function from what each pool looks like to the pool that answers sooner.

Expected completion time of one more image in a pool = getting the image where
the pool can read it + waiting for the work queued ahead of it + its own
service time. The queue ahead drains at ``slots / service_s`` images a
second over the pool's live workers; capacity still booting counts once it
would be up. A pool with no live worker and nothing booting can never answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CLOUD, EDGE = "cloud", "edge"


@dataclass(frozen=True)
class PoolView:
    name: str
    waiting: int  # messages queued
    in_flight: int  # messages being worked on
    workers: int  # live workers (reported recently)
    slots: int  # tasks the live workers run at once, together
    service_s: float  # seconds one image takes, learned from the workers' own timings
    upload_s: float = 0.0  # getting this image to where the pool reads it (0 if it is already there)
    booting_slots: int = 0  # capacity the autoscaler is bringing up
    boot_remaining_s: float = 0.0  # until that capacity is up

    def expected_s(self) -> float:
        ahead = self.waiting + self.in_flight
        if self.slots:
            return self.upload_s + ahead * self.service_s / self.slots + self.service_s
        if self.booting_slots:
            return self.upload_s + self.boot_remaining_s + ahead * self.service_s / self.booting_slots + self.service_s
        return math.inf


@dataclass(frozen=True)
class Choice:
    pool: str
    reason: str
    expected_s: dict[str, float]

    def as_header(self) -> dict[str, object]:
        return {"pool": self.pool, "reason": self.reason,
                "expected_s": {k: (round(v, 3) if math.isfinite(v) else None) for k, v in self.expected_s.items()}}


def choose(views: dict[str, PoolView] | None, pinned: str | None = None) -> Choice:
    """The pool for one request; cloud whenever the edge cannot be relied on."""
    if pinned:
        return Choice(pinned, f"pinned to {pinned} by the caller", {})
    if not views or CLOUD not in views:
        return Choice(CLOUD, "no fresh observations: the default pool", {})
    expected = {name: view.expected_s() for name, view in views.items()}
    edge = views.get(EDGE)
    if edge is None or not edge.workers:
        return Choice(CLOUD, "no edge worker seen recently", expected)
    best = min(expected, key=lambda name: (expected[name], name != CLOUD))  # a tie goes to the cloud
    other = EDGE if best == CLOUD else CLOUD
    return Choice(best, f"{best} answers in {expected[best]:.2f} s, {other} in {expected[other]:.2f} s", expected)
