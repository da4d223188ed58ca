"""The autoscaler's view of each host: the provider's list joined with the workers' own reports."""

from __future__ import annotations

from irs.autoscale.providers import Host
from irs.autoscale.reconcile import instances
from irs.fleet.schemas import WorkerReport


def report(host_id: str, busy: bool = False, idle_since: float | None = 50.0, always_on: bool = False
           ) -> WorkerReport:
    return WorkerReport(instance_id=host_id, pool="cloud", always_on=always_on, busy=busy, idle_since=idle_since,
                        processed=3, started_at=0.0, updated_at=60.0)


def test_a_running_host_whose_worker_has_not_reported_counts_as_busy() -> None:
    (seen,) = instances([Host("i-1", "running", 10.0)], {})
    assert seen.busy and seen.idle_since is None  # it may already hold work: never scaled in blind


def test_a_booting_host_is_neither_busy_nor_idle() -> None:
    (seen,) = instances([Host("i-1", "pending", 10.0)], {})
    assert seen.state == "pending" and not seen.busy and seen.idle_since is None


def test_the_report_says_whether_a_worker_is_busy_and_since_when_it_is_idle() -> None:
    idle, busy = instances([Host("i-1", "running", 10.0), Host("i-2", "running", 10.0)],
                           {"i-1": report("i-1"), "i-2": report("i-2", busy=True, idle_since=None)})
    assert not idle.busy and idle.idle_since == 50.0
    assert busy.busy and busy.idle_since is None


def test_either_the_provider_or_the_worker_can_say_a_host_is_the_always_on_one() -> None:
    by_tag, by_report = instances([Host("i-1", "running", 0.0, always_on=True), Host("i-2", "running", 0.0)],
                                  {"i-2": report("i-2", always_on=True)})
    assert by_tag.always_on and by_report.always_on


def test_reports_of_hosts_the_provider_does_not_list_are_ignored() -> None:
    assert instances([], {"i-gone": report("i-gone")}) == ()
