"""What the status page shows and what load shedding decides on: sampled in the background.

One thread reads the pools (queues, dead letters, workers, images served) and
the autoscaler's published state every ``EVERY_S`` seconds and keeps the last
``HISTORY_S`` seconds for the timeline. Pages and the API read the latest
sample; none of them waits for AWS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from irs.aws.clients import AWS_OR_NETWORK_ERRORS
from irs.fleet import autoscaler_state
from irs.fleet.status import pool_status
from irs.pools import CLOUD
from webapp import metrics

logger = logging.getLogger(__name__)
EVERY_S = 2.0
HISTORY_S = 600.0
STALE_S = 10 * EVERY_S  # a sample older than this: the sampler is stuck, or AWS does not answer it

Sample = dict[str, Any]


class Monitor:
    def __init__(self) -> None:
        self.history: deque[Sample] = deque(maxlen=int(HISTORY_S / EVERY_S))
        self.latest: Sample | None = None
        self.stop = threading.Event()
        self.ready = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="irs-web-monitor", daemon=True).start()

    def close(self) -> None:
        self.stop.set()

    def backlog(self) -> int | None:
        """Requests waiting or in flight in every pool, as last sampled; None before the first sample."""
        if self.latest is None:
            return None
        return sum(p["waiting"] + p["in_flight"] for p in self.latest["pools"])

    def images_per_s(self) -> float | None:
        """Images the pools answered a second over the last samples; None before two samples."""
        history = list(self.history)[-6:]
        if len(history) < 2 or history[-1]["t"] <= history[0]["t"]:
            return None
        served = [sum(p["served"] for p in s["pools"]) for s in history]
        return (served[-1] - served[0]) / (history[-1]["t"] - history[0]["t"])

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.latest = sample()
                self.history.append(self.latest)
                self.ready.set()
            except AWS_OR_NETWORK_ERRORS as error:
                logger.warning("status sample failed: %s", error)
            except Exception:  # noqa: BLE001 - a bad sample must not end sampling; readiness sees staleness
                logger.exception("status sample failed")
            self.stop.wait(EVERY_S)

    def fresh(self, now: float | None = None) -> bool:
        """Whether the last sample is recent: the sampler is alive and AWS answers it."""
        now = time.time() if now is None else now
        return self.latest is not None and now - self.latest["t"] <= STALE_S


def sample() -> Sample:
    statuses = pool_status()
    served = sum(p.served for p in statuses) or 1
    pools = [{**p.as_dict(), "share": round(p.served / served, 3)} for p in statuses]
    scaler = autoscaler_state.read(CLOUD)
    metrics.record_pools(pools)
    return {"t": round(time.time(), 1), "pools": pools,
            "autoscaler": scaler.model_dump(mode="json") if scaler else None}
