"""Other ways to scale, modelled for comparison in the simulator; IRS's controller never uses them.

Each models a well-known scaler as its documentation describes it; where a
detail had to be chosen, the choice is in the docstring. They keep the memory
their originals keep (metric windows, stabilisation), so they are objects; the
IRS policy needs none and stays a pure function (:mod:`irs.autoscale.policy`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from irs.autoscale import policy
from irs.autoscale.policy import Config, Decision, Observation


class Policy(Protocol):
    name: str
    interval_s: float  # how often it decides
    graceful: bool  # whether its terminations drain the worker first (else a busy one is killed)

    def decide(self, obs: Observation) -> Decision: ...


@dataclass
class Irs:
    """IRS's own policy, as the controller runs it."""

    cfg: Config
    name: str = "irs"
    interval_s: float = 5.0
    graceful: bool = True

    def decide(self, obs: Observation) -> Decision:
        return policy.decide(obs, self.cfg)


@dataclass
class Static:
    """A fixed fleet, started before the first image."""

    size: int
    name: str = ""
    interval_s: float = 5.0
    graceful: bool = True

    def __post_init__(self) -> None:
        self.name = self.name or f"static_{self.size}"

    def decide(self, obs: Observation) -> Decision:
        return Decision(self.size, launch=max(0, self.size - len(obs.instances)))


@dataclass
class Seed:
    """The seed's controller: every 5 s, start min(visible - running, 19 - running) instances.

    Its workers stop themselves once idle while the queue is empty, after one empty 20 s long
    poll; they finish their task first.
    """

    cfg: Config
    name: str = "seed"
    interval_s: float = 5.0
    graceful: bool = True
    idle_exit_s: float = 20.0

    def decide(self, obs: Observation) -> Decision:
        running = len(obs.instances)
        launch = max(0, min(obs.waiting - running, self.cfg.max_instances - 1 - running))
        if launch:
            return Decision(running + launch, launch=launch)
        if obs.waiting:
            return Decision(running)
        idle = tuple(i.id for i in obs.running if not i.always_on and not i.busy and i.idle_since is not None
                     and obs.now - i.idle_since >= self.idle_exit_s)
        return Decision(running - len(idle), terminate=idle)


@dataclass
class AwsTargetTracking:
    """EC2 Auto Scaling target tracking on backlog per instance (AWS's documented SQS method).

    - The metric is visible messages over in-service instances, published once a minute as that
      minute's average; the target is the acceptable latency times one instance's rate.
    - Scale out when 3 consecutive datapoints exceed the target, to ceil(in-service x metric / target);
      instances in their warm-up (boot + 60 s) count toward capacity but not toward the metric.
    - Scale in when 15 consecutive datapoints are below 90 % of the target, one instance at a time,
      by the default termination policy, which does not know whether a worker is busy.
    """

    cfg: Config
    name: str = "aws_target_tracking"
    interval_s: float = 5.0
    graceful: bool = False
    samples: list[float] = field(default_factory=list)
    datapoints: deque[float] = field(default_factory=lambda: deque(maxlen=15))
    minute: int = -1

    def decide(self, obs: Observation) -> Decision:
        in_service = [i for i in obs.running if obs.now - i.launched_at >= self.cfg.boot_s + 60]
        self.samples.append(obs.waiting / max(1, len(in_service)))
        current = len(obs.instances)
        minute = int(obs.now // 60)
        if minute == self.minute:
            return Decision(current)
        self.minute = minute
        self.datapoints.append(sum(self.samples) / len(self.samples))
        self.samples.clear()
        target = self.cfg.target_latency_s * self.cfg.rate_per_instance
        recent = list(self.datapoints)
        if len(recent) >= 3 and all(d > target for d in recent[-3:]):
            desired = min(self.cfg.max_instances, math.ceil(max(1, len(in_service)) * recent[-1] / target))
            if desired > current:
                return Decision(desired, launch=desired - current)
        if len(recent) == 15 and all(d < 0.9 * target for d in recent) and current > self.cfg.min_instances:
            newest = max(obs.running, key=lambda i: i.launched_at, default=None)
            if newest is not None and not newest.always_on:
                return Decision(current - 1, terminate=(newest.id,))
        return Decision(current)


@dataclass
class Keda:
    """A Kubernetes HPA driven by KEDA's SQS scaler.

    Every 15 s: desired = ceil((visible + in flight) / target per replica), with the target set to
    the same acceptable backlog per instance as the others; no change within a 10 % tolerance;
    scale-up at once, scale-down to the highest recommendation of the last 300 s. Pods get
    SIGTERM and a grace period, so a busy worker finishes its task.
    """

    cfg: Config
    name: str = "keda"
    interval_s: float = 15.0
    graceful: bool = True
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, obs: Observation) -> Decision:
        current = len(obs.instances)
        target = self.cfg.target_latency_s * self.cfg.rate_per_instance
        raw = math.ceil((obs.waiting + obs.in_flight) / target)
        wanted = max(self.cfg.min_instances, min(self.cfg.max_instances, raw))
        if current and abs(wanted / current - 1) <= 0.1:
            wanted = current
        self.history.append((obs.now, wanted))
        while self.history and obs.now - self.history[0][0] > 300:
            self.history.popleft()
        if wanted < current:
            wanted = max(w for _, w in self.history)
        if wanted > current:
            return Decision(wanted, launch=wanted - current)
        surplus = current - wanted
        idle_first = sorted((i for i in obs.running if not i.always_on), key=lambda i: i.busy)
        return Decision(wanted, terminate=tuple(i.id for i in idle_first[:surplus]))


def all_policies(cfg: Config) -> list[Policy]:
    return [Irs(cfg), AwsTargetTracking(cfg), Seed(cfg), Keda(cfg), Static(20), Static(1)]
