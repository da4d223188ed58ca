"""The autoscaler's decision: a pure function from what was observed to what to do.

No I/O and no memory: everything the policy needs is in the :class:`Observation`,
so the controller can be restarted at any moment, and the simulator runs the
very same function against a simulated fleet.

How the desired capacity is found (AWS's backlog-per-instance method, plus three things):

1. **Backlog per instance against a target latency.** An instance clears
   ``slots / service_time`` images a second; the backlog must be cleared within
   ``target_latency_s``, and arrivals kept up with at ``utilisation``.
2. **Boot-aware.** New instances only help after ``boot_s``. What the running
   fleet clears before then is not counted against it, and no instance is
   started for a burst that would be gone before it booted.
3. **Immediate.** It acts on the queue depth of this moment, not on a
   one-minute average, and launches the whole shortfall at once.
4. **Slow, safe scale-in.** Capacity is only given back down to what the
   *peak* arrival rate of the last ``scale_in_idle_s`` needs, so a fleet that
   just served a burst keeps its instances for the next one and does not
   flap. Only idle instances go, never the always-on one, never one younger
   than that window, and never a busy one.
5. **An always-on instance, always.** When none is in the fleet, replacing it
   comes before anything else.

Every decision carries typed causes (:class:`Cause`), as the status page and
metrics read them, beside prose reasons with the numbers for a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from irs.pools import CLOUD_SERVICE_S

InstanceState = Literal["pending", "running"]


class Cause(StrEnum):
    """Why the fleet is to be the size decided."""

    MIN_INSTANCES = "min_instances"  # the floor
    ARRIVALS = "arrivals"  # steady arrivals need this many at the target utilisation
    BACKLOG_CLEARS = "backlog_clears"  # the running fleet clears the backlog within the target latency
    BACKLOG = "backlog"  # the backlog left after a boot needs more instances
    GONE_BEFORE_BOOT = "gone_before_boot"  # the backlog is gone before a new instance could boot
    AT_MAX = "at_max"  # capped at the maximum; the rest waits in the queue
    NO_ALWAYS_ON = "no_always_on"  # the always-on instance is missing: launch one first
    PEAK_UNKNOWN = "peak_unknown"  # too little history to give capacity back
    RECENT_PEAK = "recent_peak"  # capacity kept for the peak arrival rate of the scale-in window
    IDLE = "idle"  # idle instances beyond what the recent peak needs are terminated


@dataclass(frozen=True)
class Instance:
    id: str
    state: InstanceState
    launched_at: float
    always_on: bool = False
    busy: bool = False
    idle_since: float | None = None  # when its worker last went idle; None while busy or booting


@dataclass(frozen=True)
class Observation:
    now: float
    waiting: int  # messages visible in the queue
    in_flight: int  # messages received and not yet acknowledged
    arrival_rate: float  # images per second, recently
    instances: tuple[Instance, ...]
    peak_rate: float = 0.0  # the highest arrival rate (over 10 s) within the scale-in window; inf: unknown
    service_s: float | None = None  # the workers' measured time per image, of the models they serve; None: unknown

    @property
    def running(self) -> list[Instance]:
        return [i for i in self.instances if i.state == "running"]

    @property
    def pending(self) -> list[Instance]:
        return [i for i in self.instances if i.state == "pending"]


@dataclass(frozen=True)
class Config:
    min_instances: int = 1
    max_instances: int = 20
    slots: int = 2  # tasks one instance runs at once (worker processes)
    service_time_s: float = CLOUD_SERVICE_S  # per image per slot: the worker CPU per image (throughput benchmark)
    target_latency_s: float = 60.0  # how long an image may wait, at most, in a burst
    utilisation: float = 0.8  # the share of capacity steady arrivals may use
    boot_s: float = 45.0  # from launch to a worker taking tasks
    scale_in_idle_s: float = 60.0  # the scale-in window: peak rate looked back over, and minimum age

    @property
    def rate_per_instance(self) -> float:
        return self.slots / self.service_time_s


@dataclass(frozen=True)
class Decision:
    desired: int
    launch: int = 0
    terminate: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default=())
    causes: tuple[Cause, ...] = field(default=())
    launch_always_on: bool = False  # the one to launch replaces the always-on instance


def per_instance(obs: Observation, cfg: Config) -> float:
    """Images per second one instance clears: at the workers' measured time per image when they have reported
    one (it follows the models the requests name), at the configured time otherwise."""
    return cfg.slots / obs.service_s if obs.service_s else cfg.rate_per_instance


def desired_capacity(obs: Observation, cfg: Config) -> tuple[int, list[Cause], list[str]]:
    """How many instances the current load needs, and why."""
    rate = per_instance(obs, cfg)
    backlog = obs.waiting + obs.in_flight
    running = len(obs.running)
    causes: list[Cause] = []
    reasons = []

    steady = math.ceil(obs.arrival_rate / (rate * cfg.utilisation)) if obs.arrival_rate > 0 else 0
    if steady:
        causes.append(Cause.ARRIVALS)
        reasons.append(f"arrivals {obs.arrival_rate:.1f}/s need {steady} at {cfg.utilisation:.0%} utilisation")

    burst = 0
    if backlog:
        # The backlog when anything launched now has booted: what the running fleet clears, net of
        # arrivals, comes off it (or, if arrivals outrun the fleet, what they add goes on it).
        net = running * rate - obs.arrival_rate
        left_at_boot = backlog - net * cfg.boot_s
        if net > 0 and backlog / net <= cfg.target_latency_s:
            causes.append(Cause.BACKLOG_CLEARS)
            reasons.append(f"backlog {backlog} clears in {backlog / net:.0f} s with {running} running")
            burst = running
        elif left_at_boot > 0:
            # After booting, the rest must be cleared within what remains of the target latency.
            window = max(cfg.target_latency_s - cfg.boot_s, cfg.boot_s / 2)
            burst = math.ceil((left_at_boot / window + obs.arrival_rate) / rate)
            causes.append(Cause.BACKLOG)
            reasons.append(f"backlog {backlog}: {left_at_boot:.0f} left after a boot, needs {burst} "
                           f"to clear it within {window:.0f} s more")
        else:
            burst = running
            causes.append(Cause.GONE_BEFORE_BOOT)
            reasons.append(f"backlog {backlog} is gone before a new instance could boot")
    need = max(cfg.min_instances, steady, burst)
    if need == cfg.min_instances and not causes:
        causes.append(Cause.MIN_INSTANCES)
    capped = min(cfg.max_instances, need)
    if capped < need:
        causes.append(Cause.AT_MAX)
        reasons.append(f"capped at {cfg.max_instances}; the rest waits in the queue")
    return capped, causes, reasons


def decide(obs: Observation, cfg: Config) -> Decision:
    """What to launch and what to terminate now."""
    desired, causes, reasons = desired_capacity(obs, cfg)
    current = len(obs.instances)
    if not any(i.always_on for i in obs.instances):
        return Decision(max(desired, current + 1), launch=1, launch_always_on=True,
                        causes=(Cause.NO_ALWAYS_ON,), reasons=("no always-on instance: launch one",))
    if desired > current:
        return Decision(desired, launch=desired - current, causes=tuple(causes),
                        reasons=(*reasons, f"launch {desired - current}"))
    if desired == current:
        return Decision(desired, causes=tuple(causes), reasons=tuple(reasons))
    if math.isinf(obs.peak_rate):
        return Decision(desired, causes=(*causes, Cause.PEAK_UNKNOWN),
                        reasons=(*reasons, "keeping every instance until the recent peak rate is known"))
    keep = max(desired, math.ceil(obs.peak_rate / (per_instance(obs, cfg) * cfg.utilisation)))
    if keep >= current:
        why = f"keeping {current}: the peak rate of the last {cfg.scale_in_idle_s:.0f} s ({obs.peak_rate:.1f}/s)"
        return Decision(desired, causes=(*causes, Cause.RECENT_PEAK), reasons=(*reasons, f"{why} needs {keep}"))
    # Only idle, running, old enough and not always-on instances; the longest idle first.
    candidates = sorted(
        (i for i in obs.running if not i.always_on and not i.busy and i.idle_since is not None
         and obs.now - i.launched_at >= cfg.scale_in_idle_s),
        key=lambda i: i.idle_since or 0.0,
    )
    chosen = tuple(i.id for i in candidates[: current - keep])  # booting instances are never cut short
    if chosen:
        causes.append(Cause.IDLE)
        reasons.append(f"terminate {len(chosen)} idle: {keep} cover the peak rate of the last "
                       f"{cfg.scale_in_idle_s:.0f} s")
    return Decision(desired, terminate=chosen, causes=tuple(causes), reasons=tuple(reasons))
