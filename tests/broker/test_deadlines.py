"""A request with a deadline (Celery's ``expires``) that no worker started in time is answered, not run: its one
document says ``expired``, and the message is gone from the queue."""

from __future__ import annotations

import time

from irs.aws import clients, documents
from irs.aws.queues import pool_depth
from irs.fleet.schemas import REPORTS_PREFIX
from irs.pools import EDGE
from irs.results import ErrorKind, result_key, result_prefix
from irs.settings import get_settings
from irs.tasks import classify
from tests.conftest import Worker, wait_until


def test_a_request_past_its_deadline_is_answered_expired_and_one_within_it_is_classified(
        emulator, upload, photo) -> None:  # type: ignore[no-untyped-def]
    late, on_time = upload(photo("dog.jpg"), "late.jpg"), upload(photo("dog.jpg"), "on-time.jpg")
    sent = time.monotonic()
    expiring = classify.apply_async((late,), queue=EDGE, expires=1.0)  # nobody serves the edge queue yet
    lasting = classify.apply_async((on_time,), queue=EDGE, expires=600.0)
    wait_until(lambda: time.monotonic() - sent > 1.5, 5, "the first deadline to pass")
    worker = Worker("edge-deadline", "edge", concurrency=1, extra_env={"IRS_INSTANCE_ID": "edge-deadline"})
    try:
        expired, classified = expiring.get(timeout=60), lasting.get(timeout=60)
        assert expired["status"] == "error" and expired["error_kind"] == ErrorKind.EXPIRED, expired
        assert "deadline" in expired["error"] and expired["detections"] == [] and expired["pool"] == "edge"
        assert classified["status"] == "ok" and "dog" in classified["summary"]
        listing = clients.client("s3").list_objects_v2(Bucket=get_settings().results_bucket,
                                                       Prefix=result_prefix(late))
        assert [item["Key"] for item in listing["Contents"]] == [result_key(expiring.id)]  # one document
        log = worker.text()  # not run: Celery discarded it
        assert f"classify[{expiring.id}] succeeded" not in log and f"Discarding revoked task: irs.tasks.classify[" \
            f"{expiring.id}]" in log
    finally:
        worker.stop()  # drained: its acknowledgements sent
        documents.remove(f"{REPORTS_PREFIX}edge/edge-deadline.json")  # others' premise: no edge worker lives
    assert pool_depth(EDGE).total == 0
