"""What the autoscaler tells everyone else: its fleet, what is booting, and its last decisions.

The controller writes ``autoscaler/<pool>.json`` in the results bucket once a
tick. The router reads it to count capacity that is on its way (an instance
launched 30 s ago with a 45 s boot is 15 s from taking work), and the status
page shows it. One small PUT every few seconds: cheap, and any number of
readers cost the controller nothing.
"""

from __future__ import annotations

import time

from irs.aws import documents
from irs.aws.clients import AWS_ERRORS
from irs.fleet.liveness import AUTOSCALER_STATE_STALE_S
from irs.fleet.schemas import AutoscalerState, Booting

PREFIX = "autoscaler/"
KEEP_DECISIONS = 20


def key(pool: str) -> str:
    return f"{PREFIX}{pool}.json"


def write(state: AutoscalerState) -> None:
    documents.put(key(state.pool), state.model_dump(mode="json"))


def read(pool: str) -> AutoscalerState | None:
    """The autoscaler's last word on ``pool``, or None if there is none (no autoscaler runs)."""
    try:
        return documents.read(key(pool), AutoscalerState, belongs=lambda found, at: at == key(found.pool))
    except AWS_ERRORS:
        return None


def read_booting(pool: str, now: float | None = None) -> Booting | None:
    found = read(pool)
    now = time.time() if now is None else now
    if found is None or now - found.updated_at > AUTOSCALER_STATE_STALE_S:
        return None
    return found.booting()
