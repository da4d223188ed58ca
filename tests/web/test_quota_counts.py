"""An owner's images a day, counted in the results bucket by conditional writes: exact across web processes."""

from __future__ import annotations

import threading

from webapp import quotas


def test_concurrent_reservations_never_take_more_than_the_days_limit(mocked_aws) -> None:  # type: ignore[no-untyped-def]
    now, refused = quotas.today(), []

    def take() -> None:
        if quotas.reserve("racer", 3, limit=10, now=now) is not None:
            refused.append(1)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert quotas.accepted_today("racer", now) == 9 and len(refused) == 3  # three fit; a fourth would pass 10
    assert quotas.reserve("racer", -3, limit=10, now=now) is None  # a failed upload gives its images back
    assert quotas.accepted_today("racer", now) == 6
