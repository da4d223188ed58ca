"""A job is load like any other: the controller counts the jobs queue beside the cloud's own, so a job of
100,000 images scales the fleet to its cap (the requests wait, none is lost)."""

from __future__ import annotations

import pytest

from irs.autoscale import controller as controller_module
from irs.autoscale.controller import Controller
from irs.autoscale.policy import Config, decide
from irs.autoscale.providers import Host
from irs.aws import queues
from irs.aws.queues import Depth
from irs.pools import CLOUD, JOBS


class OneHost:
    name = "fake"

    def hosts(self) -> list[Host]:
        return [Host("always-on", "running", launched_at=0.0, always_on=True)]

    def launch(self, count: int, always_on: bool = False) -> list[str]:
        raise AssertionError("observing launches nothing")

    def drain(self, ids: list[str]) -> None:
        raise AssertionError("observing drains nothing")

    def terminate(self, ids: list[str]) -> None:
        raise AssertionError("observing terminates nothing")


def test_a_job_of_100000_images_scales_the_cloud_to_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    depths = {queues.named(CLOUD, "irs-").queue: Depth(3, 2, 0), queues.named(JOBS, "irs-").queue: Depth(100_000, 4, 0)}
    monkeypatch.setattr(queues, "names", lambda pool, settings=None: queues.named(pool, "irs-"))
    monkeypatch.setattr(queues, "depth", lambda name: depths[name])
    monkeypatch.setattr(controller_module.reports, "read", lambda pool, now: {})
    cfg = Config()
    observation = Controller(OneHost(), cfg, clock=lambda: 1_000.0).observe()
    assert (observation.waiting, observation.in_flight) == (100_003, 6)
    decision = decide(observation, cfg)
    assert decision.launch == cfg.max_instances - 1 and decision.desired == cfg.max_instances
