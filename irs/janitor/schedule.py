"""The janitor: each upkeep job on its own interval, with its own log lines and metrics.

``irs autoscale`` runs it on a thread of its own beside the controller, so a
slow sweep never delays a scaling decision, and each job's failure is logged
and retried at its next turn without touching the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from irs.settings import Settings

logger = logging.getLogger(__name__)
TICK_S = 1.0


@dataclass
class Job:
    """One upkeep job: ``run`` does it once and returns how many things it moved or removed."""

    name: str
    every_s: float
    run: Callable[[], int]
    what: str  # what the count means, for the log: "queued request(s) moved to the pool that answers them sooner"
    due_at: float = field(default=0.0)


@cache
def _metrics() -> tuple[Any, Any]:
    from prometheus_client import Counter

    done = Counter("irs_janitor_items_total", "Things the janitor moved or removed, by job", ["job"])
    failed = Counter("irs_janitor_failures_total", "Janitor job runs that failed, by job", ["job"])
    return done, failed


def jobs(settings: Settings) -> list[Job]:
    """The upkeep IRS needs: queued requests where they are answered sooner, the queues of consumers that died
    removed, watched buckets' new objects sent to classify, jobs followed to their end, and usage per owner rolled
    up."""
    from irs import usage
    from irs.aws import feeds
    from irs.janitor import orphans, rebalance
    from irs.jobs import progress, watch

    found = [Job("rebalance", rebalance.EVERY_S, rebalance.Rebalancer().turn,
                 "queued request(s) moved to the pool that answers them sooner"),
             Job("sweep_feeds", 60.0, feeds.sweep, "result-feed queue(s) of web processes that are gone removed"),
             Job("watch", watch.EVERY_S, watch.take_notices, "new object(s) in watched buckets sent to classify"),
             Job("follow_jobs", progress.EVERY_S, progress.follow_all, "job(s) finished, their notices published"),
             Job("usage", usage.EVERY_S, usage.Roller().turn, "row(s) of usage per owner rolled up")]
    if settings.monitoring:
        sweeper = orphans.Sweeper()
        found.append(Job("sweep_monitoring", 60.0, lambda: len(sweeper.sweep()),
                         "control or event queue(s) whose consumer is gone removed"))
    return found


class Janitor:
    def __init__(self, jobs: list[Job], clock: Callable[[], float] = time.monotonic,
                 say: Callable[[str], None] = logger.info) -> None:
        self.jobs, self.clock, self.say = jobs, clock, say

    def tick(self) -> dict[str, int]:
        """Run every job that is due; returns what each one that ran did (-1: it failed)."""
        done, failed = _metrics()
        ran: dict[str, int] = {}
        for job in self.jobs:
            now = self.clock()
            if now < job.due_at:
                continue
            job.due_at = now + job.every_s
            try:
                count = job.run()
            except Exception as error:  # noqa: BLE001 - one job's failure must not stop the others
                failed.labels(job.name).inc()
                self.say(f"janitor: {job.name} failed ({error}); trying again in {job.every_s:.0f} s")
                ran[job.name] = -1
                continue
            ran[job.name] = count
            if count:
                done.labels(job.name).inc(count)
                self.say(f"janitor: {count} {job.what}")
        return ran

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.tick()
            stop.wait(TICK_S)
