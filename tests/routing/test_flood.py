"""A flood, simulated with the router's, the rebalancer's and the autoscaler's own decisions."""

from __future__ import annotations

from dataclasses import replace

from irs.routing.flood import FloodParams, simulate_flood

STACK = FloodParams(cloud_service_s=0.2, boot_s=10.0)  # the local stack on two cores: a slow cloud, fast boots


def test_every_request_of_a_flood_is_answered_once_whatever_the_pools() -> None:
    for edge in (False, True):
        for moving in (False, True):
            result = simulate_flood(FloodParams(images=300, edge=edge, rebalance=moving))
            assert sum(result["served"].values()) == 300  # type: ignore[attr-defined]


def test_work_left_on_the_slow_edge_moves_and_the_flood_ends_about_when_the_cloud_alone_would_end_it() -> None:
    alone = simulate_flood(replace(STACK, edge=False))
    stranded = simulate_flood(replace(STACK, rebalance=False))
    moved = simulate_flood(STACK)
    assert stranded["routed_to_edge"] > 0 and moved["moved"] > 0  # type: ignore[operator]
    assert stranded["last_result_s"] > 1.3 * alone["last_result_s"]  # type: ignore[operator]
    assert moved["last_result_s"] <= 1.3 * alone["last_result_s"]  # type: ignore[operator]
