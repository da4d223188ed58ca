"""The autoscaler's loop: observe, decide, act, and say why. Nothing else.

It keeps nothing it cannot rebuild. The fleet comes from the provider (tags,
or the local registry) joined with the workers' own reports
(:mod:`irs.autoscale.reconcile`); the arrival rate is estimated from how the
backlog and the workers' completed counts move, over a short history that a
restarted controller simply gathers again (it does not scale in until it has
a full window of it). The decision is :func:`irs.autoscale.policy.decide`.
When SQS, S3 or the provider fails, it holds steady and tries again on the
next tick. Upkeep (stranded edge requests, orphaned queues) is the janitor's
(:mod:`irs.janitor`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, replace

from irs.autoscale import metrics, reconcile
from irs.autoscale.policy import Config, Decision, Observation, decide
from irs.autoscale.providers import Provider
from irs.aws import queues
from irs.aws.clients import AWS_OR_NETWORK_ERRORS
from irs.fleet import autoscaler_state, reports
from irs.fleet.schemas import AutoscalerState
from irs.pools import CLOUD

logger = logging.getLogger(__name__)
RATE_WINDOW_S = 60.0
PEAK_BUCKET_S = 10.0


class Controller:
    def __init__(self, provider: Provider, cfg: Config, pool: str = CLOUD, interval_s: float = 5.0,
                 clock: Callable[[], float] = time.time, say: Callable[[str], None] = logger.info) -> None:
        self.provider, self.cfg, self.pool, self.interval_s = provider, cfg, pool, interval_s
        self.clock, self.say = clock, say
        self.started = clock()
        self.history: deque[tuple[float, int, int]] = deque()  # (time, backlog, images completed so far)
        self.completed = 0  # completions counted so far, across workers that came and went
        self.last_processed: dict[str, int] = {}
        self.decisions: deque[dict[str, object]] = deque(maxlen=autoscaler_state.KEEP_DECISIONS)

    # -- observe ------------------------------------------------------------------------------------
    def observe(self) -> Observation:
        now = self.clock()
        depth = queues.served_depth(self.pool)
        found = reports.read(self.pool, now)
        hosts = self.provider.hosts()
        for seen in found.values():  # completions: what each worker finished since we last looked
            self.completed += max(0, seen.processed - self.last_processed.get(seen.instance_id, 0))
            self.last_processed[seen.instance_id] = seen.processed
        self.history.append((now, depth.backlog, self.completed))
        while self.history and now - self.history[0][0] > max(RATE_WINDOW_S, self.cfg.scale_in_idle_s):
            self.history.popleft()
        services = [r.service_ms / 1000 for r in found.values() if r.service_ms and not r.draining]
        return Observation(now=now, waiting=depth.waiting, in_flight=depth.in_flight, arrival_rate=self._rate(now),
                           instances=reconcile.instances(hosts, found), peak_rate=self._peak_rate(now),
                           service_s=sum(services) / len(services) if services else None)

    def _arrivals(self, since: float, until: float) -> float:
        """Images that arrived between two times: the backlog's growth plus what was completed."""
        inside = [h for h in self.history if since <= h[0] <= until]
        if len(inside) < 2:
            return 0.0
        (_, backlog0, done0), (_, backlog1, done1) = inside[0], inside[-1]
        return max(0.0, (backlog1 - backlog0) + (done1 - done0))

    def _rate(self, now: float) -> float:
        span = min(RATE_WINDOW_S, now - self.history[0][0]) if self.history else 0.0
        return self._arrivals(now - RATE_WINDOW_S, now) / span if span > 0 else 0.0

    def _peak_rate(self, now: float) -> float:
        if now - self.started < self.cfg.scale_in_idle_s:
            return math.inf  # too little history to know the recent peak: do not scale in yet
        window = self.cfg.scale_in_idle_s
        starts = [now - window + k * PEAK_BUCKET_S for k in range(int(window // PEAK_BUCKET_S))]
        return max((self._arrivals(s, s + PEAK_BUCKET_S) / PEAK_BUCKET_S for s in starts), default=0.0)

    # -- decide and act ---------------------------------------------------------------------------------
    def step(self) -> Decision | None:
        """One tick; returns what was decided, or None when observing or acting failed (and nothing changed)."""
        try:
            observation = self.observe()
        except AWS_OR_NETWORK_ERRORS as error:
            self.say(f"could not observe ({error}); holding steady")
            return None
        decision = decide(observation, self.cfg)
        launched: list[str] = []
        if decision.launch or decision.terminate:
            try:
                if decision.launch:
                    launched = self.provider.launch(decision.launch, always_on=decision.launch_always_on)
                if decision.terminate:
                    self.provider.drain(list(decision.terminate))
                decision = replace(decision, launch=len(launched))
            except AWS_OR_NETWORK_ERRORS as error:
                self.say(f"could not act ({error}); holding steady")
                return None
        self._log(observation, decision)
        self._publish(observation, decision, launched)
        return decision

    def _publish(self, observation: Observation, decision: Decision, launched: list[str]) -> None:
        """Tell the router what is booting, and the status page what was decided and why."""
        if decision.launch or decision.terminate or not self.decisions:
            self.decisions.append({"t": round(observation.now, 1), **asdict(decision)})
        pending: list[dict[str, float | str]] = [{"id": i.id, "launched_at": i.launched_at}
                                                 for i in observation.pending]
        metrics.record_decision(self.pool, decision, len(observation.running), len(observation.pending) + len(launched))
        pending += [{"id": host_id, "launched_at": observation.now} for host_id in launched]
        try:
            autoscaler_state.write(AutoscalerState.model_validate({
                "pool": self.pool, "provider": self.provider.name, "updated_at": observation.now,
                "desired": decision.desired, "running": [i.id for i in observation.running], "pending": pending,
                "boot_s": self.cfg.boot_s, "slots_per_instance": self.cfg.slots, "decisions": list(self.decisions)},
                strict=False))
        except AWS_OR_NETWORK_ERRORS as error:
            self.say(f"could not publish the autoscaler's state ({error})")

    def _log(self, observation: Observation, decision: Decision) -> None:
        entry = {"t": round(observation.now, 1), "waiting": observation.waiting, "in_flight": observation.in_flight,
                 "rate": round(observation.arrival_rate, 2), "running": len(observation.running),
                 "pending": len(observation.pending), **asdict(decision)}
        self.say(json.dumps(entry))

    def run(self, stop: threading.Event) -> None:
        self.say(f"autoscaling the {self.pool} pool's queues with the {self.provider.name} provider: "
                 f"{self.cfg.min_instances} to {self.cfg.max_instances} instances, every {self.interval_s:.0f} s")
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - a bug in one tick must not stop the autoscaler
                logger.exception("autoscaler tick failed; holding steady")
                self.say("autoscaler tick failed (see the log); holding steady")
            stop.wait(self.interval_s)
