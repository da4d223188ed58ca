"""The autoscaler's loop: observe, decide, act, and say why.

It keeps nothing it cannot rebuild. The fleet comes from the provider (tags,
or the local registry) and the workers' own reports; the arrival rate is
estimated from how the backlog and the workers' completed counts move, over a
short history that a restarted controller simply gathers again (it does not
scale in until it has a full window of it). When SQS, S3 or the provider
fails, it holds steady and tries again on the next tick.
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

from botocore.exceptions import BotoCoreError, ClientError

from irs import aws, control, feeds, fleet, metrics
from irs.autoscale import state
from irs.autoscale.policy import Config, Decision, Instance, Observation, decide
from irs.autoscale.providers import Provider
from irs.provision import queue_names
from irs.routing import rescue
from irs.settings import get_settings

logger = logging.getLogger(__name__)
RATE_WINDOW_S = 60.0
PEAK_BUCKET_S = 10.0
SWEEP_EVERY_S = 60.0


class Controller:
    def __init__(self, provider: Provider, cfg: Config, pool: str = "cloud", interval_s: float = 5.0,
                 clock: Callable[[], float] = time.time, say: Callable[[str], None] = logger.info) -> None:
        self.provider, self.cfg, self.pool, self.interval_s = provider, cfg, pool, interval_s
        self.clock, self.say = clock, say
        self.queue = next(n.queue for n in queue_names() if n.pool == pool)
        self.started = clock()
        self.history: deque[tuple[float, int, int]] = deque()  # (time, backlog, images completed so far)
        self.completed = 0  # completions counted so far, across workers that came and went
        self.last_processed: dict[str, int] = {}
        self.queue_url = ""
        self.decisions: deque[dict[str, object]] = deque(maxlen=state.KEEP_DECISIONS)
        self.swept_at = -SWEEP_EVERY_S
        self.monitoring_sweeper = control.Sweeper()

    # -- observe ------------------------------------------------------------------------------------
    def observe(self) -> Observation:
        now = self.clock()
        sqs = aws.client("sqs")
        self.queue_url = self.queue_url or sqs.get_queue_url(QueueName=self.queue)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        waiting = int(attributes["ApproximateNumberOfMessages"])
        in_flight = int(attributes["ApproximateNumberOfMessagesNotVisible"])
        reports = fleet.read(self.pool, now)
        hosts = self.provider.hosts()
        for seen in reports.values():  # completions: what each worker finished since we last looked
            self.completed += max(0, seen.processed - self.last_processed.get(seen.instance_id, 0))
            self.last_processed[seen.instance_id] = seen.processed
        self.history.append((now, waiting + in_flight, self.completed))
        while self.history and now - self.history[0][0] > max(RATE_WINDOW_S, self.cfg.scale_in_idle_s):
            self.history.popleft()
        instances = []
        for host in hosts:
            report = reports.get(host.id)
            # A running host that has not reported yet may already hold work: treat it as busy.
            busy = report.busy if report else host.state == "running"
            instances.append(Instance(host.id, host.state, host.launched_at, host.always_on or bool(
                report and report.always_on), busy, report.idle_since if report and not busy else None))
        return Observation(now=now, waiting=waiting, in_flight=in_flight, arrival_rate=self._rate(now),
                           instances=tuple(instances), peak_rate=self._peak_rate(now))

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
        """One tick; returns what was decided, or None when observing failed (and nothing was done)."""
        try:
            observation = self.observe()
        except (ClientError, BotoCoreError, OSError) as error:
            self.say(f"could not observe ({error}); holding steady")
            return None
        decision = decide(observation, self.cfg)
        if not any(i.always_on for i in observation.instances):
            try:
                self.provider.launch(1, always_on=True)
                self.say("no always-on instance: launched one")
            except (ClientError, BotoCoreError, OSError) as error:
                self.say(f"could not launch the always-on instance ({error}); trying again next tick")
            return decision
        launched: list[str] = []
        if decision.launch or decision.terminate:
            try:
                launched = self.provider.launch(decision.launch) if decision.launch else []
                if decision.terminate:
                    self.provider.drain(list(decision.terminate))
                decision = replace(decision, launch=len(launched))
            except (ClientError, BotoCoreError, OSError) as error:
                self.say(f"could not act ({error}); holding steady")
                return None
        self._log(observation, decision)
        self._publish(observation, decision, launched)
        if self.pool == "cloud":
            self._rescue_stranded_edge_requests()
        if observation.now - self.swept_at >= SWEEP_EVERY_S:
            self._sweep_orphaned_feeds(observation.now)
        return decision

    def _sweep_orphaned_feeds(self, now: float) -> None:
        """Remove the queues of listeners that died without removing them: result feeds
        (:mod:`irs.feeds`) and, with monitoring on, control and event queues (:mod:`irs.control`)."""
        self.swept_at = now
        try:
            removed = feeds.sweep()
            monitoring = self.monitoring_sweeper.sweep() if get_settings().monitoring else []
        except (ClientError, BotoCoreError, OSError) as error:
            self.say(f"could not sweep orphaned queues ({error})")
            return
        if removed or monitoring:
            self.say(f"removed {removed} feed queue(s) and {len(monitoring)} control or event queue(s) "
                     "whose consumer is gone")

    def _rescue_stranded_edge_requests(self) -> None:
        try:
            moved = rescue.rescue()
        except (ClientError, BotoCoreError, OSError) as error:
            self.say(f"could not look for stranded edge requests ({error})")
            return
        if moved:
            self.say(f"no edge worker lives: moved {moved} stranded request(s) from the edge queue to the cloud")

    def _publish(self, observation: Observation, decision: Decision, launched: list[str]) -> None:
        """Tell the router what is booting, and the status page what was decided and why."""
        if decision.launch or decision.terminate or not self.decisions:
            self.decisions.append({"t": round(observation.now, 1), **asdict(decision)})
        pending: list[dict[str, float | str]] = [{"id": i.id, "launched_at": i.launched_at}
                                                 for i in observation.pending]
        metrics.observe_autoscaler(self.pool, decision.desired, len(observation.running),
                                   len(observation.pending) + len(launched))
        pending += [{"id": host_id, "launched_at": observation.now} for host_id in launched]
        try:
            state.write(state.State(self.pool, self.provider.name, observation.now, decision.desired,
                                    [i.id for i in observation.running], pending, self.cfg.boot_s, self.cfg.slots,
                                    list(self.decisions)))
        except (ClientError, BotoCoreError, OSError) as error:
            self.say(f"could not publish the autoscaler's state ({error})")

    def _log(self, observation: Observation, decision: Decision) -> None:
        entry = {"t": round(observation.now, 1), "waiting": observation.waiting, "in_flight": observation.in_flight,
                 "rate": round(observation.arrival_rate, 2), "running": len(observation.running),
                 "pending": len(observation.pending), **asdict(decision)}
        self.say(json.dumps(entry))

    def run(self, stop: threading.Event) -> None:
        self.say(f"autoscaling {self.queue} with the {self.provider.name} provider: "
                 f"{self.cfg.min_instances} to {self.cfg.max_instances} instances, every {self.interval_s:.0f} s")
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - a bug in one tick must not stop the autoscaler
                logger.exception("autoscaler tick failed; holding steady")
                self.say("autoscaler tick failed (see the log); holding steady")
            stop.wait(self.interval_s)
