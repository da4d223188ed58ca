"""What the router's observer makes of its last reads: backlogs carried forward, capacity on its way."""

from __future__ import annotations

from irs.fleet.schemas import Booting
from irs.pools import CLOUD, EDGE
from irs.routing.observe import Observer, _Backlog
from irs.routing.policy import Cause, Choice, choose


def observer_at(now: float, queued: float) -> Observer:
    observer = Observer()
    observer.clock = lambda: now
    observer.backlogs = {CLOUD: _Backlog(queued, now, now), EDGE: _Backlog(0, now, now)}
    return observer


def test_cloud_capacity_the_autoscaler_is_booting_counts_when_no_cloud_worker_lives(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import irs.routing.observe as observe

    monkeypatch.setattr(observe.time, "time", lambda: 1000.0)
    observer = observer_at(50.0, queued=40)
    assert observer._view(CLOUD, 50.0, 0.0).expected_s() == float("inf")  # nobody to serve it
    observer.booting = Booting(slots=4, ready_at=1030.0)
    view = observer._view(CLOUD, 50.0, 0.0)
    assert view.booting_slots == 4 and view.boot_remaining_s == 30.0
    assert view.expected_s() == 30.0 + 40 * view.service_s / 4 + view.service_s


def test_requests_routed_since_the_last_read_join_the_queue_and_drain_with_it() -> None:
    from irs.fleet.schemas import WorkerReport

    observer = observer_at(100.0, queued=0)
    observer.reports = {"pi": WorkerReport(instance_id="pi", pool=EDGE, always_on=False, busy=True, idle_since=None,
                                         processed=0, started_at=0.0, updated_at=0.0, slots=1, service_ms=1000.0)}
    for _ in range(5):
        observer.sent_to(Choice(EDGE, Cause.FASTER, "edge answers sooner", {}))
    assert observer._view(EDGE, 100.0, 0.0).queued == 5
    assert observer._view(EDGE, 102.0, 0.0).queued == 3  # one slot at 1 s an image: two done since


def test_an_unmeasured_pool_gets_one_measuring_request_at_a_time() -> None:
    from irs.fleet.schemas import WorkerReport

    observer = observer_at(100.0, queued=40)  # a busy cloud, so a fast edge would be worth a try
    cloud = WorkerReport(instance_id="c1", pool=CLOUD, always_on=True, busy=True, idle_since=None, processed=9,
                         started_at=0.0, updated_at=99.0, slots=2, service_ms=60.0)
    observer.reports = {"c1": cloud, "pi": WorkerReport(instance_id="pi", pool=EDGE, always_on=False, busy=False,
                                                        idle_since=90.0, processed=0, started_at=0.0, updated_at=99.0,
                                                        slots=1)}
    observer.clock = lambda: 100.0

    def route() -> Choice:
        choice = choose({pool: observer._view(pool, observer.clock(), 0.0) for pool in (CLOUD, EDGE)})
        observer.sent_to(choice)
        return choice

    first = route()
    assert first.pool == EDGE and first.cause == Cause.MEASURING
    # Before its time comes back, the next requests go to the cloud, even once the edge's backlog has drained.
    observer.clock = lambda: 130.0
    assert [route().pool for _ in range(6)] == [CLOUD] * 6
    observer.reports = {**observer.reports, "pi": observer.reports["pi"].model_copy(update={"service_ms": 300.0})}
    assert route().cause == Cause.FASTER  # measured now: compared like any pool


def test_a_request_naming_a_model_is_timed_by_what_the_pools_workers_reported_for_that_model() -> None:
    from irs.fleet.schemas import WorkerReport

    observer = observer_at(100.0, queued=10)
    observer.reports = {
        "cloud-1": WorkerReport(instance_id="cloud-1", pool=CLOUD, always_on=True, busy=True, idle_since=None,
                                processed=50, started_at=0.0, updated_at=0.0, slots=2, service_ms=50.0,
                                service_ms_by_model={"yolo-fastest-1.1-xl": 40.0, "big-team-model": 900.0}),
        "pi": WorkerReport(instance_id="pi", pool=EDGE, always_on=False, busy=False, idle_since=90.0,
                           processed=5, started_at=0.0, updated_at=0.0, slots=1, service_ms=1500.0)}
    default = observer._view(CLOUD, 100.0, 0.0)
    big = observer._view(CLOUD, 100.0, 0.0, model="big-team-model@1a2b")  # by name, whatever the version
    unknown = observer._view(CLOUD, 100.0, 0.0, model="never-served")
    assert big.own_s == 0.9 and big.expected_s() == default.expected_s() - 0.05 + 0.9
    assert unknown.own_s is None and unknown.expected_s() == default.expected_s()  # the pool's time
    assert observer._view(EDGE, 100.0, 0.0, model="big-team-model").own_s is None


def test_a_pool_holds_a_built_in_model_only_where_a_worker_says_it_has_its_files() -> None:
    from irs.fleet.schemas import WorkerReport

    observer = observer_at(100.0, queued=0)
    common = {"always_on": False, "busy": False, "idle_since": 90.0, "processed": 5, "started_at": 0.0,
              "updated_at": 0.0, "slots": 1, "service_ms": 1500.0}
    observer.reports = {
        "pi": WorkerReport(instance_id="pi", pool=EDGE, model="yolo-fastest-1.1", models=["yolo-fastest-1.1"],
                           **common),  # type: ignore[arg-type]
        "cloud-1": WorkerReport(instance_id="cloud-1", pool=CLOUD, models=None, **common)}  # type: ignore[arg-type]
    assert observer._view(EDGE, 100.0, 0.0, model="yolo-fastest-1.1").holds_model
    assert not observer._view(EDGE, 100.0, 0.0, model="yolo-fastest-1.1-xl").holds_model
    assert observer._view(EDGE, 100.0, 0.0, model="team-parts@1a2b").holds_model  # a repository model: fetched
    assert observer._view(CLOUD, 100.0, 0.0, model="yolo-fastest-1.1-xl").holds_model  # it does not say: assumed
