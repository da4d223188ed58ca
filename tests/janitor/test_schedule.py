"""The janitor runs each job on its own interval, and one job's failure stops no other."""

from __future__ import annotations

from irs.janitor.schedule import Janitor, Job, jobs
from irs.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_job_runs_when_it_is_due_and_says_what_it_did() -> None:
    clock, said, runs = Clock(), [], {"fast": 0, "slow": 0}

    def count(name: str, result: int) -> Job:
        def run() -> int:
            runs[name] += 1
            return result
        return Job(name, 5.0 if name == "fast" else 60.0, run, f"{name} thing(s) done")

    janitor = Janitor([count("fast", 2), count("slow", 0)], clock=clock, say=said.append)
    for second in range(0, 61):
        clock.now = float(second)
        janitor.tick()
    assert runs == {"fast": 13, "slow": 2}  # at 0, 5, ..., 60; and at 0, 60
    assert said.count("janitor: 2 fast thing(s) done") == 13
    assert not any("slow" in line for line in said)  # nothing done, nothing said


def test_a_failing_job_is_logged_and_the_others_still_run() -> None:
    said: list[str] = []

    def broken() -> int:
        raise RuntimeError("the queue is gone")

    janitor = Janitor([Job("broken", 5.0, broken, "x"), Job("fine", 5.0, lambda: 1, "thing(s) done")],
                      clock=Clock(), say=said.append)
    assert janitor.tick() == {"broken": -1, "fine": 1}
    assert any("broken failed (the queue is gone)" in line for line in said)


def test_monitoring_queues_are_swept_only_when_monitoring_is_on() -> None:
    names = {job.name for job in jobs(Settings(monitoring=False))}
    assert names == {"rebalance", "sweep_feeds", "watch", "follow_jobs", "usage"}
    assert "sweep_monitoring" in {job.name for job in jobs(Settings(monitoring=True))}
