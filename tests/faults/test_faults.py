"""Faults survived with nothing lost: S3 and SQS failing, throttling, resetting, slowing and vanishing.

Each test puts a batch of 100 images in flight through the fault proxy with
the real ``irs classify`` and a real worker, and checks four things: the
worker keeps its processes and resumes, transient errors are retried (every
image is answered "ok" although the proxy injected failures), every image
ends with exactly one result document in S3, and the client reports every
result.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults import scenario
from tests.faults.proxy import Fault

IMAGES_IN_FLIGHT = 100


@pytest.fixture(scope="module")
def rig(emulator: str) -> Iterator[scenario.Rig]:
    with scenario.module_rig("faults", IMAGES_IN_FLIGHT) as rig:
        yield rig


def check_nothing_lost(outcome: scenario.Outcome) -> None:
    context = f"{outcome}\n--- worker log (end) ---\n{outcome.worker_log[-4000:]}\n--- client ---\n" \
              f"{outcome.client_log[-2000:]}"
    assert outcome.injected, f"the proxy injected nothing: the test proves nothing\n{context}"
    assert outcome.worker_restarts == 0, f"worker processes were replaced\n{context}"
    assert "Unrecoverable error" not in outcome.worker_log, context
    assert outcome.lost == 0 and outcome.results == IMAGES_IN_FLIGHT, context
    assert outcome.duplicates == 0, context
    assert outcome.failed == 0, f"a transient error became an answer instead of being retried\n{context}"
    assert outcome.reported == IMAGES_IN_FLIGHT and outcome.client_exit == 0, context


@pytest.mark.parametrize(("fault", "share"), [
    (Fault.S3_500, 0.2),
    (Fault.S3_SLOWDOWN, 0.2),
    (Fault.SQS_THROTTLE, 0.3),
    (Fault.RESET, 0.1),
    (Fault.LATENCY, 0.1),
], ids=lambda value: value.name if isinstance(value, Fault) else None)
def test_a_batch_in_flight_survives(rig: scenario.Rig, fault: Fault, share: float) -> None:
    check_nothing_lost(scenario.run(rig, fault, share=share, window_s=10))


def test_thirty_seconds_of_refused_connections_are_ridden_out_and_logged_once(rig: scenario.Rig) -> None:
    outcome = scenario.run(rig, None, refuse_s=30)
    check_nothing_lost(outcome)
    assert outcome.in_flight >= IMAGES_IN_FLIGHT // 2, f"the outage hit too few images: {outcome.in_flight}"
    log = outcome.worker_log
    # The consumer sees the outage only if it polls during it: with every prefetched task still trying to write
    # its result, it does not. Either way each part that notices says so once, and once that it is over.
    receive = log.count("SQS out of reach")
    assert receive <= 1 and log.count("SQS answers again") == receive, log[-4000:]
    assert log.count("could not write this worker's fleet report") <= 1, log[-4000:]
    assert receive or "Could not connect to the endpoint URL" in log, f"nothing saw the outage\n{log[-4000:]}"




#: A worker whose patience (10 s: half its soft limit) is shorter than the S3 outage below: the tasks that read an
#: image during it raise, and Celery retries them.
IMPATIENT_TIME_LIMIT_S = 30


@pytest.fixture(scope="module")
def impatient_rig(emulator: str) -> Iterator[scenario.Rig]:
    with scenario.module_rig("faults-impatient", IMAGES_IN_FLIGHT, {"IRS_TASK_TIME_LIMIT": str(IMPATIENT_TIME_LIMIT_S)}
                           ) as rig:
        yield rig


def test_an_outage_longer_than_the_tasks_patience_is_retried_by_celery_and_every_image_answered_once(
        impatient_rig: scenario.Rig) -> None:
    outcome = scenario.run(impatient_rig, Fault.S3_READ_500, share=1.0, window_s=14, in_flight_first=True)
    check_nothing_lost(outcome)
    assert "Retry in" in outcome.worker_log, f"no task outlasted its patience: the test proves nothing\n" \
                                             f"{outcome.worker_log[-4000:]}"
    assert "dead-lettered" not in outcome.worker_log, outcome.worker_log[-4000:]
