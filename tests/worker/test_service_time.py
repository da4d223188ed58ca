"""The worker's moving averages of time per image, overall and by model, as its fleet report carries them."""

from __future__ import annotations

from irs.fleet.schemas import MAX_MODELS
from irs.worker.lifecycle import ServiceTime


def test_each_model_has_its_own_average_and_only_the_most_recently_served_are_kept() -> None:
    times = ServiceTime()
    times.record(0.040, "yolo-fastest-1.1-xl")
    times.record(0.900, "big-team-model")
    times.record(0.050, "yolo-fastest-1.1-xl")
    assert times.models() == {"yolo-fastest-1.1-xl": 42.0, "big-team-model": 900.0}
    assert times.ms is not None and 40 < times.ms < 900  # the pool's time mixes them
    for n in range(MAX_MODELS):
        times.record(0.1, f"model-{n}")
    assert len(times.models()) == MAX_MODELS and "yolo-fastest-1.1-xl" not in times.models()
