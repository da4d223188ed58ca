"""Replay an arrival trace through a scaling policy against a simulated fleet.

The fleet is what the policy would face on EC2: instances take ``boot_s`` to
start taking work, each runs ``slots`` images at once, images take the measured
service time (with some spread), there are never more than ``max_instances``,
and what does not fit waits in the queue. A busy instance terminated without
draining loses its in-flight images to the visibility timeout: they come back
later, so nothing is lost, but the worker counts as a busy worker killed.

The IRS policy is the very function the controller calls
(:func:`irs.autoscale.policy.decide`), fed the same :class:`Observation`, whose
instances come from simulated hosts and worker reports through the controller's
own :func:`irs.autoscale.reconcile.instances`.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from irs.autoscale import reconcile
from irs.autoscale.policy import Config, Instance, Observation
from irs.autoscale.providers import Host
from irs.autoscale.sim.baselines import Policy, Static
from irs.fleet.schemas import WorkerReport
from irs.pools import CLOUD
from irs.settings import default_visibility_timeout

TICK_S = 1.0  # the simulation observes, records and lets the policy decide on this grid
RATE_WINDOW_S = 60.0  # arrival rate is averaged over this window
VISIBILITY_TIMEOUT_S = float(default_visibility_timeout())  # when an image on a killed worker is seen again


# --- traces ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trace:
    name: str
    arrivals: np.ndarray  # seconds, sorted
    horizon_s: float  # cost is counted up to here (or until the last image is done, if later)


def _poisson(rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of an inhomogeneous Poisson process with ``rate[s]`` images/s in second s."""
    counts = rng.poisson(rate)
    seconds = np.repeat(np.arange(len(rate)), counts)
    return np.sort(seconds + rng.random(len(seconds)))


def traces(seed: int = 7) -> list[Trace]:
    rng = np.random.default_rng(seed)
    burst = np.full(500, 30.0)
    step = np.r_[np.full(300, 2.0), np.full(600, 120.0), np.full(600, 2.0)]
    t = np.arange(3600)
    diurnal = 5 + 95 * (1 - np.cos(2 * np.pi * t / 3600)) / 2
    background = np.full(3600, 1.0)
    arrivals = [_poisson(background, rng)]
    for start in np.cumsum(rng.exponential(300, 20)):
        if start < 3300:
            size = int(rng.integers(300, 3000))
            arrivals.append(start + rng.random(size) * 10)
    big_burst = np.full(5000, 30.0)
    return [
        Trace("burst", burst, 600),
        Trace("step", _poisson(step, rng), 1800),
        Trace("diurnal", _poisson(diurnal, rng), 3900),
        Trace("poisson_bursts", np.sort(np.concatenate(arrivals)), 3900),
        Trace("big_burst", big_burst, 900),
    ]


def peak_rate(arrivals: np.ndarray, now: float, window_s: float, bucket_s: float = 10.0) -> float:
    """The highest arrival rate over ``bucket_s`` within the last ``window_s``."""
    edges = np.arange(now - window_s, now + bucket_s / 2, bucket_s)
    counts = np.diff(np.searchsorted(arrivals, edges))
    return float(counts.max() / bucket_s) if len(counts) else 0.0


# --- the fleet -------------------------------------------------------------------------------------
@dataclass
class _Host:
    id: str
    launched_at: float
    ready_at: float
    always_on: bool
    working: list[tuple[float, float]] = field(default_factory=list)  # (finishes at, arrived at), in progress
    last_finish: float = 0.0
    gone_at: float | None = None

    def host(self, now: float) -> Host:
        """What the provider would list."""
        return Host(self.id, "running" if now >= self.ready_at else "pending", self.launched_at, self.always_on)

    def report(self, now: float) -> WorkerReport | None:
        """What its worker would report; nothing while it boots."""
        if now < self.ready_at:
            return None
        idle_since = None if self.working else max(self.last_finish, self.ready_at)
        return WorkerReport(instance_id=self.id, pool=CLOUD, always_on=self.always_on, busy=bool(self.working),
                            idle_since=idle_since, processed=0, started_at=self.ready_at, updated_at=now)


def _instances(hosts: list[_Host], now: float) -> tuple[Instance, ...]:
    found = {host.id: report for host in hosts if (report := host.report(now)) is not None}
    return reconcile.instances([host.host(now) for host in hosts], found)


@dataclass
class Result:
    policy: str
    trace: str
    latencies: np.ndarray
    timeline: dict[str, list[float]]
    instance_seconds: float
    peak_instances: int
    scale_actions: int
    busy_killed: int
    lost: int

    def row(self) -> dict[str, object]:
        q = np.percentile(self.latencies, [50, 95, 99]) if len(self.latencies) else [math.nan] * 3
        return {"policy": self.policy, "trace": self.trace, "p50_s": round(float(q[0]), 2),
                "p95_s": round(float(q[1]), 2), "p99_s": round(float(q[2]), 2),
                "instance_seconds": round(self.instance_seconds), "peak_instances": self.peak_instances,
                "scale_actions": self.scale_actions, "busy_killed": self.busy_killed, "lost": self.lost,
                "images": int(len(self.latencies))}


def simulate(trace: Trace, policy: Policy, cfg: Config, seed: int = 11) -> Result:
    rng = np.random.default_rng(seed)
    hosts: dict[str, _Host] = {}
    slots: list[tuple[float, str, int]] = []  # heap of (free at, host, slot)
    counter = 0

    def launch(now: float, ready_at: float, always_on: bool = False) -> None:
        nonlocal counter
        counter += 1
        host = _Host(f"i-{counter:04d}", now, ready_at, always_on)
        hosts[host.id] = host
        for n in range(cfg.slots):
            heapq.heappush(slots, (ready_at, host.id, n))

    prewarmed = policy.size if isinstance(policy, Static) else 1
    for n in range(prewarmed):
        launch(0.0, 0.0, always_on=n == 0)

    arrivals = trace.arrivals
    queue: deque[tuple[float, float]] = deque()  # (visible at, arrival)
    returning: list[tuple[float, float]] = []  # heap of images on killed workers: (visible at, arrival)
    latencies: list[float] = []
    timeline: dict[str, list[float]] = {k: [] for k in ("t", "waiting", "in_flight", "pending", "running", "p95")}
    next_arrival, actions, busy_killed, peak = 0, 0, 0, prewarmed
    recent: deque[tuple[float, float]] = deque()  # (finished at, latency) for the timeline's p95
    now = 0.0
    while now < trace.horizon_s or queue or returning or next_arrival < len(arrivals) \
            or any(h.working for h in hosts.values() if h.gone_at is None):
        end = now + TICK_S
        while next_arrival < len(arrivals) and arrivals[next_arrival] < end:
            queue.append((float(arrivals[next_arrival]), float(arrivals[next_arrival])))
            next_arrival += 1
        while returning and returning[0][0] < end:
            queue.append(heapq.heappop(returning))
        # Dispatch in arrival order to the earliest free slot of a live host.
        while queue and slots:
            free_at, host_id, slot = slots[0]
            host = hosts[host_id]
            if host.gone_at is not None:
                heapq.heappop(slots)
                continue
            visible_at, arrived = queue[0]
            start = max(free_at, visible_at)
            if start >= end:
                break
            heapq.heappop(slots)
            queue.popleft()
            finish = start + cfg.service_time_s * float(rng.lognormal(0, 0.25))
            host.working.append((finish, arrived))
            heapq.heappush(slots, (finish, host_id, slot))
        now = end
        for host in hosts.values():  # record what finished by now
            for finished, arrived in (w for w in host.working if w[0] <= now):
                latencies.append(finished - arrived)
                recent.append((finished, finished - arrived))
                host.last_finish = max(host.last_finish, finished)
            host.working = [w for w in host.working if w[0] > now]
        while recent and recent[0][0] < now - 10:
            recent.popleft()
        live = [h for h in hosts.values() if h.gone_at is None]
        waiting = len(queue)
        rate = (next_arrival - np.searchsorted(arrivals, now - RATE_WINDOW_S)) / min(RATE_WINDOW_S, now)
        observation = Observation(now=now, waiting=waiting, in_flight=sum(len(h.working) for h in live),
                                  arrival_rate=float(rate), instances=_instances(live, now),
                                  peak_rate=peak_rate(arrivals, now, cfg.scale_in_idle_s))
        timeline["t"].append(now)
        timeline["waiting"].append(waiting)
        timeline["in_flight"].append(observation.in_flight)
        timeline["pending"].append(len(observation.pending))
        timeline["running"].append(len(observation.running))
        timeline["p95"].append(float(np.percentile([lat for _, lat in recent], 95)) if recent else math.nan)
        if round(now / TICK_S) % round(policy.interval_s / TICK_S):
            continue
        decision = policy.decide(observation)
        room = cfg.max_instances - len(live)
        for _ in range(min(decision.launch, room)):
            launch(now, now + cfg.boot_s, always_on=decision.launch_always_on)
        for host_id in decision.terminate:
            host = hosts[host_id]
            if host.always_on:
                continue
            if host.working and not policy.graceful:
                busy_killed += 1
                for _, arrived in host.working:
                    heapq.heappush(returning, (now + VISIBILITY_TIMEOUT_S, arrived))
                host.gone_at = now
            else:  # drained: it takes nothing new, finishes what it has, then goes
                host.gone_at = max([now] + [finished for finished, _ in host.working])
                latencies.extend(finished - arrived for finished, arrived in host.working)
            host.working = []
        actions += bool(decision.launch and room) + bool(decision.terminate)
        peak = max(peak, len([h for h in hosts.values() if h.gone_at is None]))
    stop = max(now, trace.horizon_s)
    instance_seconds = sum(min(h.gone_at if h.gone_at is not None else stop, stop) - h.launched_at
                           for h in hosts.values())
    return Result(policy.name, trace.name, np.array(latencies), timeline, instance_seconds, peak, actions,
                  busy_killed, lost=len(arrivals) - len(latencies))
