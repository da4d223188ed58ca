"""A flood of requests submitted at once, simulated with IRS's own decisions: router, rebalancer, autoscaler.

Every request of the burst is routed at ``t = 0`` by :func:`irs.routing.policy.choose`, on views carried
forward as the live router carries them (each request routed counts in its pool's backlog). Then, on a
grid of ``TICK_S``, the cloud fleet is sized by :func:`irs.autoscale.policy.decide` (hosts take ``boot_s``
to take work) and, every ``rebalance_every_s``, queued requests move by :func:`irs.routing.policy.rebalance`
on what the janitor would observe: each queue's waiting and in-service requests, the live slots, the
capacity booting. Service times have a log-normal spread. ``bench/flood.py`` runs it beside the live
stack.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from irs.autoscale.policy import Config, Instance, Observation, decide
from irs.pools import CLOUD, CLOUD_SERVICE_S, EDGE
from irs.routing.policy import PoolView, choose, rebalance

TICK_S = 0.1
AUTOSCALE_EVERY_S = 5.0  # the controller's interval (irs autoscale --interval)


@dataclass(frozen=True)
class FloodParams:
    images: int = 1000
    edge: bool = True  # an edge worker serves the edge queue
    rebalance: bool = True  # the janitor moves queued requests (False: as IRS was before it did)
    edge_service_s: float = 1.5  # the local stack's emulated device
    edge_slots: int = 1
    cloud_service_s: float = CLOUD_SERVICE_S
    cloud_slots: int = 2  # per host
    boot_s: float = 45.0
    max_hosts: int = 20
    rebalance_every_s: float = 5.0  # irs.janitor.rebalance.EVERY_S
    seed: int = 11


@dataclass
class _Pool:
    service_s: float
    waiting: deque[int] = field(default_factory=deque)  # request numbers, oldest first
    busy: list[tuple[float, int]] = field(default_factory=list)  # heap of (finishes at, request)

    def in_service(self) -> int:
        return len(self.busy)


def simulate_flood(params: FloodParams) -> dict[str, object]:
    """Time to the last answer, latency percentiles, requests moved and each pool's share of the answers."""
    rng = np.random.default_rng(params.seed)
    pools = {CLOUD: _Pool(params.cloud_service_s)}
    if params.edge:
        pools[EDGE] = _Pool(params.edge_service_s)
    hosts: list[tuple[float, bool]] = [(0.0, True)]  # (ready at, always on): one always-on host, running
    cfg = Config(slots=params.cloud_slots, service_time_s=params.cloud_service_s, boot_s=params.boot_s,
                 max_instances=params.max_hosts)

    def slots(now: float) -> dict[str, int]:
        live = {CLOUD: sum(params.cloud_slots for ready, _ in hosts if ready <= now)}
        if params.edge:
            live[EDGE] = params.edge_slots
        return live

    def views(now: float) -> dict[str, PoolView]:
        live, booting = slots(now), [ready for ready, _ in hosts if ready > now]
        found = {}
        for name, pool in pools.items():
            cloud = name == CLOUD
            found[name] = PoolView(name, len(pool.waiting) + pool.in_service(), 1, live[name], pool.service_s,
                                   booting_slots=len(booting) * params.cloud_slots if cloud else 0,
                                   boot_remaining_s=min(booting) - now if cloud and booting else 0.0)
        return found

    # The burst, routed as the router routes it: each request counted in its pool's backlog.
    backlog = {name: 0.0 for name in pools}
    first = views(0.0)
    for n in range(params.images):
        now_views = {name: PoolView(name, backlog[name], 1, view.slots, view.service_s)
                     for name, view in first.items()}
        chosen = choose(now_views).pool
        backlog[chosen] += 1
        pools[chosen].waiting.append(n)
    routed_edge = len(pools[EDGE].waiting) if params.edge else 0

    finished: dict[int, float] = {}
    served_by: dict[str, int] = {name: 0 for name in pools}
    last_moved: dict[tuple[str, str], float] = {}
    moved, now, step = 0, 0.0, 0
    while len(finished) < params.images:
        live = slots(now)
        for name, pool in pools.items():
            while pool.busy and pool.busy[0][0] <= now:
                finishes_at, request = heapq.heappop(pool.busy)
                finished[request] = finishes_at
                served_by[name] += 1
            while pool.waiting and pool.in_service() < live[name]:
                heapq.heappush(pool.busy, (now + pool.service_s * float(rng.lognormal(0, 0.2)),
                                           pool.waiting.popleft()))
        if step % round(AUTOSCALE_EVERY_S / TICK_S) == 0:
            cloud = pools[CLOUD]
            instances = tuple(Instance(str(n), "running" if ready <= now else "pending", ready - params.boot_s,
                                       always_on=always_on, busy=True) for n, (ready, always_on) in enumerate(hosts))
            decision = decide(Observation(now, len(cloud.waiting), cloud.in_service(), 0.0, instances,
                                          peak_rate=math.inf), cfg)
            hosts.extend((now + params.boot_s, False) for _ in range(decision.launch))
        if params.rebalance and params.edge and step % round(params.rebalance_every_s / TICK_S) == 0:
            waiting = {name: len(pool.waiting) for name, pool in pools.items()}
            for move in rebalance(views(now), waiting, last_moved, now):
                source, target = pools[move.source], pools[move.target]
                for _ in range(min(move.count, len(source.waiting))):
                    target.waiting.append(source.waiting.popleft())
                last_moved[(move.source, move.target)] = now
                moved += move.count
        step += 1
        now = step * TICK_S
    latencies = np.sort(np.array(list(finished.values())))
    return {"images": params.images, "edge": params.edge, "rebalance": params.rebalance,
            "last_result_s": round(float(latencies[-1]), 1), "p50_s": round(float(np.percentile(latencies, 50)), 1),
            "p95_s": round(float(np.percentile(latencies, 95)), 1), "max_s": round(float(latencies[-1]), 1),
            "routed_to_edge": routed_edge, "moved": moved,
            "served": {name: count for name, count in served_by.items()},
            "peak_hosts": len(hosts)}
