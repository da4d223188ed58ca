"""The documents the fleet publishes about itself, as types: no I/O here, so pure deciders and simulators use them.

:mod:`irs.fleet.reports` and :mod:`irs.fleet.autoscaler_state` read and write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REPORTS_PREFIX = "fleet/"


@dataclass(frozen=True)
class WorkerReport:
    """What a worker says about itself, at ``fleet/<pool>/<instance id>.json``."""

    instance_id: str
    pool: str
    always_on: bool
    busy: bool
    idle_since: float | None
    processed: int  # images finished since the worker started
    started_at: float
    updated_at: float
    draining: bool = False
    slots: int = 1  # tasks it runs at once (worker processes)
    service_ms: float | None = None  # how long its recent tasks took (moving average)
    device: str | None = None  # the edge device it runs on, whose own queue it also serves

    @property
    def key(self) -> str:
        return f"{REPORTS_PREFIX}{self.pool}/{self.instance_id}.json"


@dataclass(frozen=True)
class Booting:
    """Capacity launched and not yet taking work."""

    slots: int
    ready_at: float  # epoch seconds when the earliest of it should be up

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.ready_at - now)


@dataclass(frozen=True)
class AutoscalerState:
    """What the autoscaler publishes each tick, at ``autoscaler/<pool>.json``."""

    pool: str
    provider: str
    updated_at: float
    desired: int
    running: list[str]
    pending: list[dict[str, float | str]]  # {"id", "launched_at"}
    boot_s: float
    slots_per_instance: int
    decisions: list[dict[str, Any]]  # newest last: {"t", "desired", "launch", "terminate", "causes", "reasons"}

    def booting(self) -> Booting | None:
        if not self.pending:
            return None
        earliest = min(float(p["launched_at"]) for p in self.pending)
        return Booting(len(self.pending) * self.slots_per_instance, earliest + self.boot_s)
