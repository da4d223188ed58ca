"""Whoever can write to the results bucket can write anything under fleet/ and autoscaler/: a document that is
not valid, or not under its own key, is skipped, and it never reaches a decision."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from irs.aws import documents
from irs.fleet import autoscaler_state, reports
from irs.fleet.schemas import WorkerReport
from irs.routing import router
from irs.routing.policy import Cause

pytestmark = pytest.mark.usefixtures("mocked_aws")


def report(**changes: Any) -> dict[str, Any]:
    now = time.time()
    good = {"instance_id": "w1", "pool": "edge", "always_on": False, "busy": False, "idle_since": now,
            "processed": 3, "started_at": now - 60, "updated_at": now, "slots": 1, "service_ms": 250.0}
    return {**good, **changes}


def skipped() -> float:
    return REGISTRY.get_sample_value("irs_documents_invalid_total", {"prefix": "fleet"}) or 0.0


def test_a_valid_report_under_its_own_key_is_read() -> None:
    documents.put("fleet/edge/w1.json", report())
    assert reports.read("edge")["w1"].service_ms == 250.0


@pytest.mark.parametrize("bad", [
    {"slots": "a"}, {"processed": "a"}, {"slots": 0}, {"slots": 10**6}, {"service_ms": -1.0}, {"service_ms": 1e12},
    {"busy": "yes"}, {"instance_id": "../../x"}, {"pool": "cloud; rm -rf"}, {"updated_at": 1e300},
], ids=lambda bad: ",".join(bad))
def test_a_report_out_of_its_bounds_is_skipped_and_counted(bad: dict[str, Any]) -> None:
    before = skipped()
    documents.put("fleet/edge/w1.json", report(**bad))
    assert reports.read("edge") == {}
    assert skipped() == before + 1


def test_a_report_cannot_speak_for_another_worker() -> None:
    documents.put("fleet/edge/w1.json", report())
    # Sorted after w1's, carrying w1's id and flattering numbers: it used to replace w1's report.
    documents.put("fleet/edge/zz-forged.json", report(slots=64, service_ms=1.0))
    documents.put("fleet/cloud/w1.json", report())  # the right id, the wrong pool
    found = reports.read("edge")
    assert found["w1"].slots == 1 and found["w1"].service_ms == 250.0
    assert "w1" not in reports.read("cloud")


@pytest.mark.parametrize("body", [b"not json", b"[" * 100_000 + b"]" * 100_000, b"x" * (2 * 1024 * 1024),
                                  json.dumps([1, 2]).encode()], ids=["text", "deep", "huge", "array"])
def test_what_is_not_a_report_at_all_is_skipped(body: bytes) -> None:
    documents.put_body("fleet/edge/w1.json", body)
    assert reports.read("edge") == {}


def test_an_invalid_autoscaler_state_is_no_state() -> None:
    documents.put("autoscaler/cloud.json", {"pool": "cloud", "desired": "many"})
    assert autoscaler_state.read("cloud") is None
    documents.put("autoscaler/cloud.json", {"pool": "edge"})  # another pool's, under the cloud's key
    assert autoscaler_state.read("cloud") is None


def test_routing_never_fails_the_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("a bug, or a document no model anticipated")

    router.observer.cache_clear()
    monkeypatch.setattr(router.observer(), "views", lambda *_, **__: broken())
    try:
        assert router.route("irs.tasks.classify", ("uploads/a.jpg",), {}, {}) == {"queue": "cloud"}
        choice = router.take_last()
        assert choice is not None and choice.cause == Cause.ERROR and "RuntimeError" in choice.reason
    finally:
        router.observer.cache_clear()


def test_the_model_is_the_report_a_worker_writes() -> None:
    written = WorkerReport.model_validate(report())
    documents.put(written.key, written.model_dump(mode="json"))
    assert reports.read("edge") == {"w1": written}
