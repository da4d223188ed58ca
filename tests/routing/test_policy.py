"""The routing decision: the pool that will answer sooner, and cloud whenever the edge is unknown."""

from __future__ import annotations

import math

from irs.routing.policy import CLOUD, EDGE, PoolView, choose


def cloud(waiting: int = 0, workers: int = 1, slots: int = 2, service_s: float = 0.06, **kw: float) -> PoolView:
    return PoolView(CLOUD, waiting, 0, workers, slots, service_s, **kw)  # type: ignore[arg-type]


def edge(waiting: int = 0, workers: int = 1, slots: int = 1, service_s: float = 1.5, **kw: float) -> PoolView:
    return PoolView(EDGE, waiting, 0, workers, slots, service_s, **kw)  # type: ignore[arg-type]


def test_an_idle_cloud_beats_a_slow_edge() -> None:
    assert choose({CLOUD: cloud(), EDGE: edge()}).pool == CLOUD


def test_a_deep_cloud_queue_sends_work_to_an_idle_edge() -> None:
    choice = choose({CLOUD: cloud(waiting=200), EDGE: edge()})  # 6 s of work ahead in the cloud, 1.5 s at the edge
    assert choice.pool == EDGE and "edge answers in 1.50 s" in choice.reason


def test_the_upload_counts_against_the_pool_that_needs_it() -> None:
    near = choose({CLOUD: cloud(waiting=20, upload_s=2.0), EDGE: edge()})  # a camera image on the device
    assert near.pool == EDGE
    assert choose({CLOUD: cloud(waiting=20), EDGE: edge(upload_s=2.0)}).pool == CLOUD


def test_nothing_goes_to_the_edge_when_no_edge_worker_lives() -> None:
    choice = choose({CLOUD: cloud(waiting=10_000), EDGE: edge(workers=0, slots=0)})
    assert choice.pool == CLOUD and choice.reason == "no edge worker seen recently"


def test_missing_observations_fall_back_to_the_cloud() -> None:
    assert choose(None).pool == CLOUD and choose({}).reason.startswith("no fresh observations")


def test_a_pin_is_honoured() -> None:
    assert choose({CLOUD: cloud(), EDGE: edge()}, pinned=EDGE).pool == EDGE


def test_capacity_still_booting_counts_once_it_is_up() -> None:
    booting = cloud(waiting=100, workers=0, slots=0, booting_slots=4, boot_remaining_s=20)
    assert booting.expected_s() == 20 + 100 * 0.06 / 4 + 0.06
    assert math.isinf(cloud(workers=0, slots=0).expected_s())


def test_the_decision_travels_as_a_json_header() -> None:
    header = choose({CLOUD: cloud(), EDGE: edge(workers=0, slots=0)}).as_header()
    assert header["pool"] == CLOUD and header["expected_s"] == {CLOUD: 0.06, EDGE: None}


def test_the_split_simulation_runs_every_policy_and_the_static_ones_do_what_they_say() -> None:
    from irs.routing.simulate import POLICIES, simulate

    assert set(POLICIES) >= {"irs", "cloud_only", "edge_only", "round_robin", "random", "join_shortest_queue",
                             "seed_local_first"}
    rows = {p: simulate("camera", p, load=2.0, duration_s=120) for p in POLICIES}
    assert rows["cloud_only"]["edge_share"] == 0 and rows["edge_only"]["edge_share"] == 1
    assert 0.4 < rows["round_robin"]["edge_share"] <= 0.6
    assert all(r["requests"] == rows["irs"]["requests"] and r["p95_s"] >= r["p50_s"] for r in rows.values())
