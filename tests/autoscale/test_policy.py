"""The scaling decision, as a pure function of what was observed."""

from __future__ import annotations

from irs.autoscale.policy import Cause, Config, Decision, Instance, Observation, decide

CFG = Config(slots=2, service_time_s=0.1, boot_s=45, target_latency_s=60, utilisation=0.8, scale_in_idle_s=60)
# one instance clears 20 images/s


def fleet(running: int = 1, pending: int = 0, busy: int = 0, idle_since: float = 0.0, launched_at: float = 0.0
          ) -> tuple[Instance, ...]:
    """The always-on instance, then running ones (the first ``busy`` of all are busy), then pending ones."""
    made = [Instance("i-always", "running", 0.0, always_on=True, busy=busy > 0,
                     idle_since=None if busy else idle_since)]
    made += [Instance(f"i-{n}", "running", launched_at, busy=n < busy - 1,
                      idle_since=None if n < busy - 1 else idle_since) for n in range(running - 1)]
    made += [Instance(f"i-p{n}", "pending", 1000.0) for n in range(pending)]
    return tuple(made)


def observe(waiting: int = 0, in_flight: int = 0, rate: float = 0.0, peak: float | None = None,
            instances: tuple[Instance, ...] | None = None, now: float = 1000.0) -> Decision:
    return decide(Observation(now=now, waiting=waiting, in_flight=in_flight, arrival_rate=rate,
                              instances=instances if instances is not None else fleet(),
                              peak_rate=rate if peak is None else peak), CFG)


def test_an_idle_system_keeps_its_always_on_instance_and_nothing_more() -> None:
    assert observe() == Decision(1, reasons=observe().reasons, causes=(Cause.MIN_INSTANCES,))
    assert observe().launch == 0 and observe().terminate == ()


def test_a_backlog_the_running_fleet_clears_in_time_launches_nothing() -> None:
    decision = observe(waiting=500)  # 25 s of work for one instance
    assert decision.launch == 0 and any("clears in 25 s" in r for r in decision.reasons)


def test_a_large_burst_launches_the_whole_shortfall_at_once() -> None:
    decision = observe(waiting=5000)  # 250 s for one instance
    # 5000 - 20 * 45 = 4100 left after boot, to clear in 22.5 s more: 4100 / 22.5 / 20 = 9.1 -> 10
    assert decision.desired == 10 and decision.launch == 9


def test_sustained_arrivals_are_served_at_the_target_utilisation() -> None:
    decision = observe(rate=100)  # 100 / (20 * 0.8) = 6.25 -> 7
    assert decision.desired == 7 and decision.launch == 6


def test_arrivals_outrunning_the_fleet_count_what_piles_up_during_the_boot() -> None:
    slow = observe(waiting=100, rate=60)
    assert slow.desired > observe(waiting=100, rate=0).desired
    # 100 + (60 - 20) * 45 = 1900 left at boot; (1900 / 22.5 + 60) / 20 = 7.2 -> 8
    assert slow.desired == 8


def test_pending_instances_count_as_capacity_coming() -> None:
    decision = observe(rate=100, instances=fleet(running=1, pending=6))
    assert decision.desired == 7 and decision.launch == 0


def test_never_more_than_the_maximum_and_the_rest_waits() -> None:
    decision = observe(waiting=1_000_000)
    assert decision.desired == 20 and decision.launch == 19
    assert any("capped at 20" in r for r in decision.reasons)


def test_scale_in_takes_only_idle_old_enough_instances_and_never_the_always_on_one() -> None:
    instances = fleet(running=5, busy=3, idle_since=900.0, launched_at=0.0)  # always-on and i-0, i-1 busy
    decision = observe(instances=instances)
    assert set(decision.terminate) == {"i-2", "i-3"}


def test_a_busy_worker_is_never_chosen_for_scale_in() -> None:
    instances = fleet(running=4, busy=4, idle_since=900.0)
    assert observe(instances=instances).terminate == ()


def test_capacity_the_recent_peak_needed_is_kept_for_the_scale_in_window() -> None:
    instances = fleet(running=5, idle_since=900.0)
    assert len(observe(rate=0, peak=60, instances=instances).terminate) == 1  # 60 / (20 * 0.8) -> 4 kept
    assert len(observe(rate=0, peak=0, instances=instances).terminate) == 4  # down to the always-on one


def test_instances_younger_than_the_window_are_not_scaled_in() -> None:
    instances = fleet(running=3, idle_since=990.0, launched_at=980.0)
    assert observe(instances=instances, now=1000.0).terminate == ()


def test_nothing_is_scaled_in_while_the_recent_peak_rate_is_unknown() -> None:
    instances = fleet(running=5, idle_since=900.0)
    decision = observe(rate=0, peak=float("inf"), instances=instances)
    assert decision.terminate == () and decision.launch == 0


def test_decisions_carry_typed_causes_beside_their_reasons() -> None:
    assert Cause.BACKLOG in observe(waiting=5000).causes
    assert Cause.BACKLOG_CLEARS in observe(waiting=500).causes
    idle = fleet(running=3, idle_since=800.0, launched_at=0.0)
    assert observe(instances=idle, peak=0.0).causes[-1] == Cause.IDLE
    assert observe(instances=idle, peak=float("inf")).causes[-1] == Cause.PEAK_UNKNOWN
    assert Cause.AT_MAX in observe(waiting=10**6).causes


def test_a_fleet_without_its_always_on_instance_launches_one_before_anything_else() -> None:
    ephemeral = (Instance("i-1", "running", 0.0, busy=True),)
    decision = observe(waiting=5000, instances=ephemeral)
    assert decision.launch == 1 and decision.launch_always_on and decision.causes == (Cause.NO_ALWAYS_ON,)
    assert decision.terminate == ()


def test_the_workers_measured_time_per_image_sizes_the_fleet_when_they_have_reported_one() -> None:
    configured = observe(waiting=2000)  # 0.1 s per image: 20 images/s per instance
    slower = decide(Observation(now=1000.0, waiting=2000, in_flight=0, arrival_rate=0.0, instances=fleet(),
                                peak_rate=0.0, service_s=0.2), CFG)  # a bigger model: 10 images/s
    # 2000 - 20 * 45 = 1100 left after a boot: 1100 / 22.5 / 20 -> 3; at 10/s, 1550 / 22.5 / 10 -> 7
    assert configured.desired == 3 and slower.desired == 7
