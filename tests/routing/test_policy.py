"""The routing decision: the pool that will answer sooner, and cloud whenever the edge is unknown."""

from __future__ import annotations

import math

from irs.pools import CLOUD, EDGE
from irs.routing.policy import Cause, MoveCause, PoolView, choose, drained, finish_s, rebalance


def cloud(waiting: float = 0, workers: int = 1, slots: int = 2, service_s: float = 0.06, **kw: float) -> PoolView:
    return PoolView(CLOUD, waiting, workers, slots, service_s, **kw)  # type: ignore[arg-type]


def edge(waiting: float = 0, workers: int = 1, slots: int = 1, service_s: float = 1.5, **kw: float) -> PoolView:
    return PoolView(EDGE, waiting, workers, slots, service_s, **kw)  # type: ignore[arg-type]


def device(waiting: float = 0, workers: int = 1, service_s: float = 1.5, **kw: float) -> PoolView:
    return PoolView("device-pi", waiting, workers, workers, service_s, **kw)  # type: ignore[arg-type]


def test_an_idle_cloud_beats_a_slow_edge() -> None:
    assert choose({CLOUD: cloud(), EDGE: edge()}).pool == CLOUD


def test_a_deep_cloud_queue_sends_work_to_an_idle_edge() -> None:
    choice = choose({CLOUD: cloud(waiting=200), EDGE: edge()})  # 6 s of work ahead in the cloud, 1.5 s at the edge
    assert choice.pool == EDGE and choice.reason.startswith("edge answers in 2.08 s")  # 1.5 s plus its margin


def test_the_upload_counts_against_the_pool_that_needs_it() -> None:
    near = choose({CLOUD: cloud(waiting=20, upload_s=2.0), EDGE: edge()})  # a camera image on the device
    assert near.pool == EDGE
    assert choose({CLOUD: cloud(waiting=20), EDGE: edge(upload_s=2.0)}).pool == CLOUD


def test_a_queue_drains_at_its_pools_rate_between_observations() -> None:
    # 100 images were queued half a second ago; two slots at 0.06 s have done 16.7 of them since.
    assert drained(100, 0.5, slots=2, service_s=0.06) == 100 - 0.5 * 2 / 0.06
    assert drained(5, 10, slots=2, service_s=0.06) == 0
    assert drained(5, 10, slots=0, service_s=0.06) == 5  # nobody works on it


def test_a_close_call_goes_to_the_pool_whose_slow_draws_cost_less() -> None:
    # Both expect 0.30 s, but an edge image that draws slow is late by far more than a cloud one.
    views = {CLOUD: cloud(waiting=8, service_s=0.06), EDGE: edge(service_s=0.30)}
    assert views[CLOUD].expected_s() == views[EDGE].expected_s() == 0.3
    assert choose(views).pool == CLOUD


def test_an_image_on_the_device_stays_there_unless_the_upload_pays_for_itself() -> None:
    upload_s = 0.35  # 200 KB over 5 Mb/s, plus a round trip
    views = {CLOUD: cloud(upload_s=upload_s), EDGE: edge(upload_s=upload_s), "device-pi": device(service_s=0.25)}
    assert choose(views).pool == "device-pi"
    views["device-pi"] = device(waiting=4, service_s=0.25)  # a second of work ahead on the device
    assert choose(views).pool == CLOUD
    views["device-pi"] = device(workers=0)  # its worker is gone
    assert choose(views).pool == CLOUD


def test_nothing_goes_to_the_edge_when_no_edge_worker_lives() -> None:
    choice = choose({CLOUD: cloud(waiting=10_000), EDGE: edge(workers=0, slots=0)})
    assert choice.pool == CLOUD and choice.reason == "no edge worker seen recently"


def test_a_pool_whose_workers_do_not_hold_the_requests_model_is_no_candidate() -> None:
    choice = choose({CLOUD: cloud(waiting=200), EDGE: edge(holds_model=False)})  # the edge would be sooner
    assert choice.pool == CLOUD and choice.reason == "no edge worker holds this request's model"
    assert choose({CLOUD: cloud(waiting=200), EDGE: edge(holds_model=True)}).pool == EDGE


def test_a_request_whose_model_only_the_edge_holds_goes_to_the_edge_even_when_the_cloud_is_sooner() -> None:
    choice = choose({CLOUD: cloud(holds_model=False), EDGE: edge(waiting=5)})
    assert choice.pool == EDGE and choice.reason == "edge holds this request's model; the cloud's workers do not"
    assert choose({CLOUD: cloud(holds_model=False), EDGE: edge(holds_model=False)}).pool == CLOUD  # nobody does


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


def test_capacity_the_autoscaler_is_booting_is_counted_from_its_published_state() -> None:
    from irs.fleet.schemas import AutoscalerState as State

    published = State.model_validate({
        "pool": "cloud", "provider": "ec2", "updated_at": 1000.0, "desired": 3, "running": ["i-1"],
        "pending": [{"id": "i-2", "launched_at": 990.0}, {"id": "i-3", "launched_at": 995.0}],
        "boot_s": 45.0, "slots_per_instance": 2, "decisions": []})
    booting = published.booting()
    assert booting is not None and booting.slots == 4 and booting.remaining_s(now=1000.0) == 35.0
    assert booting.remaining_s(now=2000.0) == 0.0


def test_an_idle_edge_whose_speed_is_only_guessed_gets_one_request_to_measure_it() -> None:
    unmeasured = edge(service_s=1.5, measured=False)  # type: ignore[arg-type]
    probe = choose({CLOUD: cloud(), EDGE: unmeasured})
    assert probe.pool == EDGE and "no measured time per image yet" in probe.reason
    # One at a time: with that request still queued there, the guess decides again.
    assert choose({CLOUD: cloud(), EDGE: edge(waiting=1, service_s=1.5, measured=False)}).pool == CLOUD  # type: ignore[arg-type]
    assert choose({CLOUD: cloud(), EDGE: edge(service_s=1.5)}).pool == CLOUD  # measured slow: no probe


def test_nothing_goes_to_the_edge_before_the_cloud_has_reported() -> None:
    """A starting stack: the cloud's worker has not reported yet, so its time looks infinite."""
    choice = choose({CLOUD: cloud(workers=0, slots=0), EDGE: edge()})
    assert choice.pool == CLOUD and choice.cause == Cause.STALE
    assert choose({CLOUD: cloud(workers=0, slots=0), EDGE: edge()}, pinned=EDGE).pool == EDGE  # pinned: as asked


# --- moving queued requests ---------------------------------------------------------------------------------
def test_capacity_booting_joins_the_live_slots_once_it_is_up() -> None:
    assert finish_s(100, 2, 0.1) == 5.0  # 10 slot-seconds over two slots
    assert finish_s(100, 2, 0.1, booting_slots=8, boot_remaining_s=2) == 2 + (10 - 4) / 10
    assert finish_s(10, 2, 0.1, booting_slots=8, boot_remaining_s=2) == 0.5  # done before they are up
    assert math.isinf(finish_s(1, 0, 0.1)) and finish_s(0, 0, 0.1) == 0.0


def test_a_flood_left_on_the_slow_edge_moves_to_the_cloud_until_both_finish_together() -> None:
    views = {CLOUD: cloud(waiting=0, workers=20, slots=40), EDGE: edge(waiting=367)}
    [move] = rebalance(views, {CLOUD: 0, EDGE: 366}, {}, now=1000.0)
    assert (move.source, move.target, move.cause) == (EDGE, CLOUD, MoveCause.SOONER)
    left, moved = views[EDGE].finish_s(367 - move.count), views[CLOUD].finish_s(move.count)
    assert left >= moved and views[EDGE].finish_s(367 - move.count - 1) < views[CLOUD].finish_s(move.count + 1)
    assert move.count > 360 and "even them out" in move.reason


def test_nothing_moves_for_less_than_the_margin_nor_back_within_the_cooldown() -> None:
    close = {CLOUD: cloud(waiting=40, slots=2), EDGE: edge(waiting=2)}  # 1.2 s against 3 s
    assert rebalance(close, {CLOUD: 38, EDGE: 1}, {}, now=0.0) == []
    backed_up = {CLOUD: cloud(waiting=4000, slots=2), EDGE: edge(waiting=0, slots=4)}
    [move] = rebalance(backed_up, {CLOUD: 3998, EDGE: 0}, {}, now=0.0)
    assert move.target == EDGE
    after = {CLOUD: cloud(waiting=4000 - move.count, slots=2), EDGE: edge(waiting=move.count, slots=4)}
    assert rebalance(after, {CLOUD: 10, EDGE: move.count}, {(CLOUD, EDGE): 0.0}, now=1.0) == []  # evened out
    reverse = {CLOUD: cloud(waiting=0, workers=20, slots=40), EDGE: edge(waiting=300)}
    assert rebalance(reverse, {CLOUD: 0, EDGE: 300}, {(CLOUD, EDGE): 0.0}, now=30.0) == []  # cooling down
    assert rebalance(reverse, {CLOUD: 0, EDGE: 300}, {(CLOUD, EDGE): 0.0}, now=61.0) != []


def test_a_pool_nobody_serves_hands_every_waiting_request_to_the_cloud() -> None:
    views = {CLOUD: cloud(workers=0, slots=0), EDGE: edge(waiting=3, workers=0, slots=0)}
    [move] = rebalance(views, {CLOUD: 0, EDGE: 3}, {(CLOUD, EDGE): 0.0}, now=1.0)
    assert (move.source, move.target, move.count, move.cause) == (EDGE, CLOUD, 3, MoveCause.STRANDED)
    assert rebalance({CLOUD: cloud(), EDGE: edge(waiting=1)}, {CLOUD: 0, EDGE: 0}, {}, now=1.0) == []


def test_a_cloud_that_is_booting_capacity_takes_work_it_will_finish_sooner() -> None:
    alone = {CLOUD: cloud(waiting=1200, slots=2), EDGE: edge(waiting=10)}
    booting = {CLOUD: cloud(waiting=1200, slots=2, booting_slots=38, boot_remaining_s=5), EDGE: edge(waiting=10)}
    assert rebalance(alone, {CLOUD: 1198, EDGE: 9}, {}, now=0.0)[0].target == EDGE
    assert rebalance(booting, {CLOUD: 1198, EDGE: 9}, {}, now=0.0)[0].target == CLOUD
