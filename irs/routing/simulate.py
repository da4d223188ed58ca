"""Replay requests through a routing policy against a simulated edge device and cloud.

The IRS policy is the router's own decision (:func:`irs.routing.policy.choose`),
fed what the live router sees: each pool's queue (waiting plus in service),
observed once a second and carried forward as the router does (drained at the
pool's rate, plus the requests routed since), the pools' live slots and
service times, and the transfer the image would need to reach each pool. The
queue-length baselines see the raw count: last observed plus sent since.

Two worlds: ``camera``, where images are taken on the edge device (the edge
reads them where they are; the cloud needs them uploaded over the device's
uplink), and ``web``, where users upload images to S3 through the web tier (the
cloud reads them in-region; the edge device must download them).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from irs.pools import CLOUD, CLOUD_SERVICE_S, EDGE
from irs.routing.policy import PoolView, choose, drained

OBSERVE_EVERY_S = 1.0


@dataclass(frozen=True)
class Params:
    """Each figure and where it comes from (BENCHMARKS.md repeats them)."""

    edge_service_s: float = 1.5  # a slow device, as the local stack emulates it; bench/split.py adds the Pi 4 estimate
    edge_slots: int = 1
    cloud_service_s: float = CLOUD_SERVICE_S  # worker CPU per image per process, throughput benchmark
    cloud_slots: int = 2  # one always-on instance, two worker processes
    uplink_mbps: float = 5.0  # the device's upload bandwidth (assumed: a modest home or cellular uplink)
    downlink_mbps: float = 50.0  # the device's download bandwidth, for the web world (assumed)
    rtt_s: float = 0.05  # one network round trip between the device and the region (assumed)
    seed_queue_limit: int = 10  # the seed's rule: serve locally until this many wait there
    image_bytes: tuple[int, ...] = (163_759, 141_886, 382_965, 133_495, 258_469, 113_880, 174_515)  # the samples

    @property
    def edge_rate(self) -> float:
        return self.edge_slots / self.edge_service_s


@dataclass
class _Pool:
    name: str
    slots: int
    service_s: float
    free: list[float] = field(default_factory=list)  # heap of slot free times
    pending: list[tuple[float, float]] = field(default_factory=list)  # heap of (enqueued at, finishes at)
    active: list[float] = field(default_factory=list)  # heap of finish times of enqueued requests

    def __post_init__(self) -> None:
        self.free = [0.0] * self.slots

    def serve(self, ready_at: float, rng: np.random.Generator) -> float:
        start = max(ready_at, heapq.heappop(self.free))
        finish = start + self.service_s * float(rng.lognormal(0, 0.2))
        heapq.heappush(self.free, finish)
        heapq.heappush(self.pending, (ready_at, finish))
        return finish

    def depth(self, now: float) -> int:
        """Requests enqueued and not finished at ``now``: what the queue's attributes would show."""
        while self.pending and self.pending[0][0] <= now:
            heapq.heappush(self.active, heapq.heappop(self.pending)[1])
        while self.active and self.active[0] <= now:
            heapq.heappop(self.active)
        return len(self.active)


# (the router's views with this image's transfers, each queue's length as last observed plus what was
# sent there since, a random draw) -> pool
Policy = Callable[[dict[str, PoolView], dict[str, int], float], str]


def _policies(params: Params) -> dict[str, Policy]:
    counter = itertools.count()

    def jsq(views: dict[str, PoolView], counts: dict[str, int], _: float) -> str:
        return min(views, key=lambda p: (counts[p] / max(1, views[p].slots), p))

    def seed_local_first(views: dict[str, PoolView], counts: dict[str, int], _: float) -> str:
        return EDGE if counts[EDGE] < params.seed_queue_limit else CLOUD

    return {
        "irs": lambda views, counts, _: choose(views).pool,
        "cloud_only": lambda views, counts, _: CLOUD,
        "edge_only": lambda views, counts, _: EDGE,
        "round_robin": lambda views, counts, _: (CLOUD, EDGE)[next(counter) % 2],
        "random": lambda views, counts, draw: CLOUD if draw < 0.5 else EDGE,
        "join_shortest_queue": jsq,
        "seed_local_first": seed_local_first,
    }


POLICIES = tuple(_policies(Params()))


def arrivals(load: float, pattern: str, params: Params, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times at ``load`` times the edge's capacity: Poisson, or the same mean in bursts of 10."""
    rate = load * params.edge_rate
    if pattern == "poisson":
        return np.cumsum(rng.exponential(1 / rate, int(rate * duration_s)))
    bursts = np.cumsum(rng.exponential(10 / rate, max(1, int(rate * duration_s / 10))))
    return np.sort(np.repeat(bursts, 10) + rng.random(10 * len(bursts)) * 0.5)


def simulate(world: str, policy_name: str, load: float, pattern: str = "poisson", params: Params | None = None,
             duration_s: float = 900.0, seed: int = 3) -> dict[str, object]:
    params = params or Params()
    rng = np.random.default_rng(seed)
    policy = _policies(params)[policy_name]
    pools = {EDGE: _Pool(EDGE, params.edge_slots, params.edge_service_s),
             CLOUD: _Pool(CLOUD, params.cloud_slots, params.cloud_service_s)}
    observed_at = -math.inf
    counts = {EDGE: 0, CLOUD: 0}  # observed, plus sent since
    backlog = {EDGE: (0.0, 0.0), CLOUD: (0.0, 0.0)}  # the router's estimate: (images, as of when)
    latencies, served_by_edge = [], 0
    times = arrivals(load, pattern, params, duration_s, rng)
    for n, arrived in enumerate(times):
        if arrived - observed_at >= OBSERVE_EVERY_S:
            observed_at = math.floor(arrived / OBSERVE_EVERY_S) * OBSERVE_EVERY_S
            counts = {name: pool.depth(observed_at) for name, pool in pools.items()}
            backlog = {name: (float(counts[name]), observed_at) for name in pools}
        size_bits = params.image_bytes[n % len(params.image_bytes)] * 8
        transfer = {EDGE: 0.0, CLOUD: size_bits / (params.uplink_mbps * 1e6) + params.rtt_s} if world == "camera" \
            else {EDGE: size_bits / (params.downlink_mbps * 1e6) + params.rtt_s, CLOUD: 0.0}
        now_queued = {name: drained(backlog[name][0], arrived - backlog[name][1], pool.slots, pool.service_s)
                      for name, pool in pools.items()}
        views = {name: PoolView(name, now_queued[name], 1, pool.slots, pool.service_s, upload_s=transfer[name])
                 for name, pool in pools.items()}
        chosen = policy(views, counts, float(rng.random()))
        counts[chosen] += 1
        backlog[chosen] = (now_queued[chosen] + 1, arrived)
        served_by_edge += chosen == EDGE
        latencies.append(pools[chosen].serve(arrived + transfer[chosen], rng) - arrived)
    ordered = np.sort(latencies)
    return {"world": world, "policy": policy_name, "load": load, "pattern": pattern,
            "edge_service_s": params.edge_service_s,
            "p50_s": round(float(np.percentile(ordered, 50)), 3), "p95_s": round(float(np.percentile(ordered, 95)), 3),
            "edge_share": round(served_by_edge / len(ordered), 3), "requests": len(ordered)}
