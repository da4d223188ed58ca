"""A whole worker (main process and pool) killed with SIGKILL, mid-batch and while it drains for a scale-in.

Nothing is lost and nothing is answered twice: every image ends with exactly
one result document, and the images the dead worker held come back once the
queue's visibility timeout has passed, so the last result is in at most one
visibility timeout (plus the time to classify what is left) after the kill.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from irs.settings import visibility_timeout
from tests.faults import scenario

IMAGES_IN_FLIGHT = 100
TASK_TIME_LIMIT_S = 15  # the queues' visibility timeout follows it: 60 s, not 150, so the test waits less
VISIBILITY_TIMEOUT_S = visibility_timeout(TASK_TIME_LIMIT_S)
SECOND_OWNER_IMAGES = 10
CLASSIFYING_THE_REST_S = 30  # 100 images at 200 ms each on two processes, with room for a slow machine


@pytest.fixture(scope="module")
def rig(emulator: str) -> Iterator[scenario.Rig]:
    with scenario.module_rig("killed", IMAGES_IN_FLIGHT, {"IRS_TASK_TIME_LIMIT": str(TASK_TIME_LIMIT_S)}) as rig:
        yield rig


@pytest.mark.parametrize("draining", [False, True], ids=["mid-batch, two owners", "while draining"])
def test_a_killed_worker_loses_nothing_and_duplicates_nothing(rig: scenario.Rig, draining: bool) -> None:
    # Mid-batch, a second owner sends beside the first, whose excess waits in the later lane when the worker dies.
    outcome = scenario.kill_worker(rig, draining, beside=0 if draining else SECOND_OWNER_IMAGES)
    context = f"{outcome}\n--- worker log (end) ---\n{outcome.worker_log[-3000:]}\n--- client ---\n" \
              f"{outcome.client_log[-2000:]}"
    assert outcome.lost == 0 and outcome.results == IMAGES_IN_FLIGHT, context
    assert outcome.duplicates == 0 and outcome.failed == 0, context
    assert outcome.reported == IMAGES_IN_FLIGHT and outcome.client_exit == 0, context
    assert all(count == 0 for count in outcome.beside.values()), (outcome.beside, context)
    # The bound: what the dead worker held waits out one visibility timeout, no more.
    assert outcome.recover_s <= VISIBILITY_TIMEOUT_S + CLASSIFYING_THE_REST_S, context
