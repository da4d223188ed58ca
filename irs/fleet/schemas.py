"""The documents the fleet publishes about itself, as typed and bounded models: no I/O here, so pure deciders
and simulators use them too.

Anyone who can write to the results bucket's ``fleet/`` or ``autoscaler/``
prefix can write anything there. A document is believed only if it
validates here, every number within its bounds, and, for a worker report,
only under its own key (:mod:`irs.fleet.reports`); anything else is skipped.
:mod:`irs.fleet.reports` and :mod:`irs.fleet.autoscaler_state` read and write them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from irs.contract import MODEL_NAME
from irs.pools import POOL_PATTERN

REPORTS_PREFIX = "fleet/"
NAME = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$"  # an instance id, a device, a host
MAX_EPOCH_S = 1e11  # year 5138: any later time is not a time
MAX_DECISIONS = 40
MAX_MODELS = 16  # models a worker reports its time for: the most recently served
ModelName = Annotated[str, Field(pattern=f"^{MODEL_NAME}$")]
ServiceMs = Annotated[float, Field(gt=0, le=600_000)]


class _Document(BaseModel):
    # strict: "5" is not 5, and "true" is not True; unknown fields (from a newer IRS) are ignored
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class WorkerReport(_Document):
    """What a worker says about itself, at ``fleet/<pool>/<instance id>.json``."""

    instance_id: str = Field(pattern=NAME)
    pool: str = Field(pattern=POOL_PATTERN)
    always_on: bool
    busy: bool
    idle_since: float | None = Field(ge=0, le=MAX_EPOCH_S)
    processed: int = Field(ge=0, le=10**12)  # images finished since the worker started
    started_at: float = Field(ge=0, le=MAX_EPOCH_S)
    updated_at: float = Field(ge=0, le=MAX_EPOCH_S)
    draining: bool = False
    slots: int = Field(default=1, ge=1, le=64)  # tasks it runs at once (worker processes)
    service_ms: float | None = Field(default=None, gt=0, le=600_000)  # recent time per task (moving average)
    # The same, for each model it served (by name, whatever the version): the router's time for a request that
    # names one.
    service_ms_by_model: dict[ModelName, ServiceMs] = Field(default_factory=dict, max_length=MAX_MODELS)
    device: str | None = Field(default=None, pattern=NAME)  # the edge device it runs on
    # Its own default model (IRS_MODEL: what an old request that names none gets), and the built-in models it
    # holds and so can serve; None from a worker that does not say (any model is assumed).
    model: ModelName | None = None
    models: list[ModelName] | None = Field(default=None, max_length=MAX_MODELS)

    @property
    def key(self) -> str:
        return f"{REPORTS_PREFIX}{self.pool}/{self.instance_id}.json"


class Booting(_Document):
    """Capacity launched and not yet taking work."""

    slots: int
    ready_at: float  # epoch seconds when the earliest of it should be up

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.ready_at - now)


class PendingHost(_Document):
    id: str = Field(pattern=NAME)
    launched_at: float = Field(ge=0, le=MAX_EPOCH_S)


class DecisionRecord(_Document):
    """One scaling decision, as the status page shows it."""

    t: float = Field(ge=0, le=MAX_EPOCH_S)
    desired: int = Field(ge=0, le=1000)
    launch: int = Field(ge=0, le=1000)
    terminate: list[str] = Field(max_length=1000)
    reasons: list[str] = Field(max_length=20)
    causes: list[str] = Field(default_factory=list, max_length=20)
    launch_always_on: bool = False


class AutoscalerState(_Document):
    """What the autoscaler publishes each tick, at ``autoscaler/<pool>.json``."""

    pool: str = Field(pattern=POOL_PATTERN)
    provider: str = Field(max_length=16)
    updated_at: float = Field(ge=0, le=MAX_EPOCH_S)
    desired: int = Field(ge=0, le=1000)
    running: list[str] = Field(max_length=1000)
    pending: list[PendingHost] = Field(max_length=1000)
    boot_s: float = Field(ge=0, le=3600)
    slots_per_instance: int = Field(ge=1, le=64)
    decisions: list[DecisionRecord] = Field(max_length=MAX_DECISIONS)  # newest last

    def booting(self) -> Booting | None:
        if not self.pending:
            return None
        earliest = min(p.launched_at for p in self.pending)
        return Booting(slots=len(self.pending) * self.slots_per_instance, ready_at=earliest + self.boot_s)
