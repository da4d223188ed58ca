"""What the autoscaler tells everyone else: its fleet, what is booting, and its last decisions.

The controller writes ``autoscaler/<pool>.json`` in the results bucket once a
tick. The router reads it to count capacity that is on its way (an instance
launched 30 s ago with a 45 s boot is 15 s from taking work), and the status
page shows it. One small PUT every few seconds: cheap, and any number of
readers cost the controller nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from irs import aws
from irs.settings import get_settings

PREFIX = "autoscaler/"
KEEP_DECISIONS = 20
STALE_S = 60.0  # a state older than this says nothing about what is booting now


@dataclass(frozen=True)
class Booting:
    """Capacity launched and not yet taking work."""

    slots: int
    ready_at: float  # epoch seconds when the earliest of it should be up

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.ready_at - now)


@dataclass(frozen=True)
class State:
    pool: str
    provider: str
    updated_at: float
    desired: int
    running: list[str]
    pending: list[dict[str, float | str]]  # {"id", "launched_at"}
    boot_s: float
    slots_per_instance: int
    decisions: list[dict[str, Any]]  # newest last: {"t", "desired", "launch", "terminate", "reasons"}

    def booting(self) -> Booting | None:
        if not self.pending:
            return None
        earliest = min(float(p["launched_at"]) for p in self.pending)
        return Booting(len(self.pending) * self.slots_per_instance, earliest + self.boot_s)


def key(pool: str) -> str:
    return f"{PREFIX}{pool}.json"


def write(state: State) -> None:
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=key(state.pool),
                                Body=json.dumps(asdict(state)), ContentType="application/json")


def read(pool: str) -> State | None:
    """The autoscaler's last word on ``pool``, or None if there is none (no autoscaler runs)."""
    try:
        body = aws.client("s3").get_object(Bucket=get_settings().results_bucket, Key=key(pool))["Body"].read()
        return State(**json.loads(body))
    except (ClientError, BotoCoreError, ValueError, TypeError):
        return None


def read_booting(pool: str, now: float | None = None) -> Booting | None:
    found = read(pool)
    now = time.time() if now is None else now
    if found is None or now - found.updated_at > STALE_S:
        return None
    return found.booting()
