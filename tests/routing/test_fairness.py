"""Owners' shares of the interactive queues: a burst goes ahead, the rest of a batch waits in the later lane, in
order, until its owner pauses; another owner is never held back by it."""

from __future__ import annotations

import pytest

from irs.contract import OWNER
from irs.pools import CLOUD, JOBS
from irs.routing import fairness, router
from irs.routing.fairness import Cause, Lane, Share, Shares, admit
from irs.settings import get_settings

SHARE = Share(burst=3, rate=1.0)


def lanes(shares: Shares, owner: str, count: int, at: float) -> list[Lane]:
    return [shares.admit(owner, at).lane for _ in range(count)]


def test_a_burst_goes_ahead_and_the_rest_of_the_batch_waits_in_the_later_lane_in_order() -> None:
    bucket, causes = None, []
    for _ in range(6):
        bucket, admission = admit(bucket, 100.0, SHARE)
        causes.append(admission.cause)
    assert causes == [Cause.WITHIN_SHARE] * 3 + [Cause.OVER_SHARE] + [Cause.KEEPS_ORDER] * 2


def test_an_owner_sending_on_stays_in_the_later_lane_and_one_that_paused_is_interactive_again() -> None:
    shares = Shares(SHARE)
    assert lanes(shares, "ann", 4, at=0.0) == [Lane.INTERACTIVE] * 3 + [Lane.LATER]
    # Still sending, a second apart: its bucket refills, but its batch keeps its order behind the later lane.
    assert [shares.admit("ann", t).lane for t in (1.0, 2.0, 3.0, 4.0)] == [Lane.LATER] * 4
    # Paused for a full bucket's refill (burst / rate = 3 s): a new batch starts interactive.
    assert lanes(shares, "ann", 4, at=7.0) == [Lane.INTERACTIVE] * 3 + [Lane.LATER]


def test_a_steady_owner_within_the_rate_is_always_interactive() -> None:
    shares = Shares(SHARE)
    assert [shares.admit("bob", float(t)).lane for t in range(0, 60, 2)] == [Lane.INTERACTIVE] * 30


def test_one_owners_batch_leaves_another_owners_share_whole() -> None:
    shares = Shares(SHARE)
    assert lanes(shares, "ann", 100, at=0.0).count(Lane.INTERACTIVE) == 3
    assert lanes(shares, "bob", 3, at=0.0) == [Lane.INTERACTIVE] * 3


def test_a_process_remembers_a_bounded_number_of_owners_forgetting_the_quietest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(fairness, "MAX_OWNERS", 2)
    shares = Shares(SHARE)
    lanes(shares, "ann", 4, at=0.0)  # ann is in the later lane
    shares.admit("bob", 0.0)
    shares.admit("cid", 0.0)  # ann, the quietest, is forgotten: as an owner with a full bucket would be
    assert shares.admit("ann", 0.0).lane is Lane.INTERACTIVE


@pytest.fixture
def routed(monkeypatch, mocked_aws):  # type: ignore[no-untyped-def]
    """The router with a small share (3 at once) and no pools observed."""
    monkeypatch.setenv("IRS_FAIR_BURST", "3")
    get_settings.cache_clear()
    router.shares.cache_clear()
    router.observer.cache_clear()
    yield lambda owner, **options: router.route(
        "irs.tasks.classify", ["uploads/a/dog.jpg"], {}, {"headers": {OWNER: owner}, **options})["queue"]
    router.shares.cache_clear()
    router.observer.cache_clear()
    get_settings.cache_clear()


def test_the_router_sends_an_owners_excess_to_the_later_lane_and_says_why(routed) -> None:  # type: ignore[no-untyped-def]
    assert [routed("ann") for _ in range(5)] == [CLOUD] * 3 + [JOBS] * 2
    choice = router.take_last()
    assert choice is not None and choice.cause.value == "later" and "later lane" in choice.reason
    assert routed("bob") == CLOUD
    assert routed("ann", queue="edge") == "edge"  # a pinned request goes where its caller put it


def test_with_fairness_off_every_request_is_interactive(routed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IRS_FAIRNESS", "false")
    get_settings.cache_clear()
    assert {routed("ann") for _ in range(10)} == {CLOUD}


def test_a_request_names_this_process_owner_unless_its_caller_names_one(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kombu import Connection

    from irs.tasks import classify

    monkeypatch.setenv("IRS_OWNER", "ops-team")
    get_settings.cache_clear()
    try:
        with Connection("memory://") as connection, connection.Producer() as producer:
            classify.apply_async(("uploads/a/dog.jpg",), producer=producer, queue="cloud")
            classify.apply_async(("uploads/a/cat.jpg",), producer=producer, queue="cloud", headers={OWNER: "ann"})
            sent = [connection.default_channel.queues["cloud"].get()["headers"][OWNER] for _ in range(2)]
    finally:
        get_settings.cache_clear()
    assert sent == ["ops-team", "ann"]


def test_an_edge_device_neither_sends_to_the_later_lane_nor_reads_it(routed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A device may not send to the later lane (nor read its depth: its role has neither right)."""
    from irs.routing.observe import Observer

    monkeypatch.setenv("IRS_DEVICE_ID", "porch")
    get_settings.cache_clear()
    assert JOBS not in {routed("ann") for _ in range(10)}
    assert JOBS not in Observer().lanes
