"""The router on the local stack: requests go to the pool that answers sooner, never to an edge nobody serves."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from irs.aws import queues
from irs.fleet import reports
from irs.pools import EDGE
from irs.routing import router
from irs.routing.observe import Observer
from irs.settings import get_settings
from irs.tasks import classify
from tests.conftest import Worker, wait_until


@pytest.fixture
def fresh_observer() -> Iterator[None]:
    """Forget what earlier tests' workers looked like."""
    router.observer.cache_clear()
    yield
    router.observer.cache_clear()


def _edge_depth() -> int:
    return queues.pool_depth(EDGE).total


def test_the_edge_queue_receives_nothing_when_no_edge_worker_lives(cloud_worker, fresh_observer, upload, photo
                                                                   ) -> None:  # type: ignore[no-untyped-def]
    assert not reports.read("edge")
    wait_until(lambda: reports.read("cloud"), 30, "the cloud worker's first report")  # the router's view of it
    key = upload(photo("dog.jpg"), "dog.jpg")
    results = []
    for _ in range(40):
        results.append(classify.delay(key))
        assert _edge_depth() == 0
    documents = [r.get(timeout=120) for r in results]
    assert {d["pool"] for d in documents} == {"cloud"}
    # Within its owner's share a request says why it went to the cloud; past it, it waits in the cloud's later lane.
    assert documents[0]["routing"]["reason"] == "no edge worker seen recently"
    later = [d["routing"]["cause"] == "later" for d in documents]
    assert later[-1] and later == sorted(later) and sum(later) <= len(later) - get_settings().fair_burst


def test_with_an_edge_worker_both_pools_serve_and_every_image_is_answered_once(cloud_worker, fresh_observer, upload,
                                                                               photo) -> None:  # type: ignore[no-untyped-def]
    edge = Worker("edge-router", "edge", concurrency=1, extra_env={"IRS_INSTANCE_ID": "edge-router"})
    try:
        wait_until(lambda: "edge-router" in reports.read("edge"), 20, "the edge worker's report")
        key = upload(photo("eagle.jpg"), "eagle.jpg")
        results = [classify.delay(key) for _ in range(120)]
        documents = [r.get(timeout=180) for r in results]
        assert len({d["task_id"] for d in documents}) == 120
        served = Counter(d["pool"] for d in documents)
        assert served["cloud"] > 0 and served["edge"] > 0, served
        routed_to_edge = [d for d in documents if d["pool"] == "edge"]
        assert all(d["routing"]["pool"] == "edge" for d in routed_to_edge)
        reasons = [d["routing"]["reason"] for d in routed_to_edge]
        assert all("edge answers in" in r or "measures it" in r for r in reasons), reasons
        # Each worker reports its measured time per image, which replaces the router's guess.
        wait_until(lambda: reports.read("edge")["edge-router"].service_ms, 30, "the edge worker's measured time")
    finally:
        edge.stop()


def test_when_the_pools_cannot_be_observed_requests_go_to_the_cloud(emulator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from irs.routing.policy import choose
    from irs.settings import get_settings

    monkeypatch.setattr(get_settings(), "queue_prefix", "no-such-queues-")
    observer = Observer()
    assert observer.views() is None
    assert choose(observer.views()).pool == "cloud"


def test_the_same_image_gets_the_same_model_and_answer_from_the_edge_and_the_cloud(cloud_worker, upload, photo
                                                                                  ) -> None:  # type: ignore[no-untyped-def]
    """An edge worker whose own default is lighter (as `irs up` runs it) still answers a request that names no model
    with the deployment's: the request names it when it is sent."""
    from irs.settings import get_settings

    edge = Worker("edge-light", "edge", concurrency=1,
                  extra_env={"IRS_INSTANCE_ID": "edge-light", "IRS_MODEL": "yolo-fastest-1.1"})
    try:
        key = upload(photo("dog.jpg"), "dog.jpg")
        at_edge = classify.apply_async((key,), queue="edge").get(timeout=120)
        in_cloud = classify.apply_async((key,), queue="cloud").get(timeout=120)
        wait_until(lambda: "edge-light" in reports.read("edge"), 20, "the edge worker's report")
        report = reports.read("edge")["edge-light"]
    finally:
        edge.stop()
    assert (at_edge["pool"], in_cloud["pool"]) == ("edge", "cloud")
    assert at_edge["model"] == in_cloud["model"] and at_edge["model"]["name"] == get_settings().model
    assert [d["label"] for d in at_edge["detections"]] == [d["label"] for d in in_cloud["detections"]]
    assert report.model == "yolo-fastest-1.1" and get_settings().model in (report.models or [])
