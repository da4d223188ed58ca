"""Queued requests move to the pool that answers them sooner: an edge worker that dies mid-task leaves its
request to the cloud, which still gives it exactly one result."""

from __future__ import annotations

import json
import os
import signal

from irs.aws import clients, documents
from irs.aws.queues import SQS_MAX_MESSAGE_BYTES, message_bytes
from irs.broker import envelope
from irs.fleet import reports
from irs.fleet.schemas import REPORTS_PREFIX
from irs.janitor.rebalance import MOVED_ATTRIBUTE, Rebalancer, _batches, _entry
from irs.results import result_key, result_prefix
from irs.settings import get_settings
from irs.tasks import classify
from tests.conftest import Worker, wait_until


def test_a_request_whose_edge_worker_died_mid_task_is_answered_once_by_the_cloud(
        emulator, cloud_worker, upload, photo) -> None:  # type: ignore[no-untyped-def]
    sqs = clients.client("sqs")
    edge_url = sqs.get_queue_url(QueueName=f"{get_settings().queue_prefix}edge")["QueueUrl"]
    visibility = sqs.get_queue_attributes(QueueUrl=edge_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=edge_url, Attributes={"VisibilityTimeout": "3"})  # redelivery in 3 s
    edge = Worker("edge-dies", "edge", concurrency=1, extra_env={"IRS_SERVICE_FLOOR_MS": "20000",
                                                                 "IRS_INSTANCE_ID": "edge-dies"})
    try:
        key = upload(photo("dog.jpg"), "dog.jpg")
        result = classify.apply_async((key,), queue="edge")
        wait_until(lambda: f"[{result.id}] received" in edge.text(), 30, "the edge worker to take it")
        os.killpg(edge.process.pid, signal.SIGKILL)  # the whole Pi goes: power cut
        edge.process.wait()
        assert Rebalancer(silent_s=3600).turn() == 0  # its last report is recent: it might still come back
        rebalancer = Rebalancer(silent_s=0.5)
        wait_until(lambda: rebalancer.turn() == 1, 30, "the request to be visible again and moved")
        document = result.get(timeout=60)
        assert document["status"] == "ok" and document["pool"] == "cloud"
        assert document["routing"]["pool"] == "edge"  # where it was sent, before it was rescued
        listing = clients.client("s3").list_objects_v2(Bucket=get_settings().results_bucket, Prefix=result_prefix(key))
        assert [item["Key"] for item in listing["Contents"]] == [result_key(result.id)]
    finally:
        sqs.set_queue_attributes(QueueUrl=edge_url, Attributes={"VisibilityTimeout": visibility["VisibilityTimeout"]})
        if edge.alive():
            edge.stop()
        # A killed worker leaves its report; others' premise ("no edge worker lives") must not depend on its age.
        documents.remove(f"{REPORTS_PREFIX}edge/edge-dies.json")


def test_only_requests_whose_model_the_target_holds_are_moved_and_the_rest_stay_visible(emulator, cloud_worker
                                                                                        ) -> None:  # type: ignore[no-untyped-def]
    from kombu import Connection

    from irs.aws import queues
    from irs.janitor.rebalance import move_requests

    sqs = clients.client("sqs")
    edge_url = queues.url(queues.names("edge").queue)  # no edge worker here: nothing else takes them
    with Connection("memory://") as connection, connection.Producer() as producer:
        for model in ("yolo-fastest-1.1", "yolo-fastest-1.1-xl", "yolo-fastest-1.1", "yolo-fastest-1.1-xl"):
            classify.apply_async(("uploads/rebalance/none.jpg", model), producer=producer, queue="edge")
        bodies = [json.dumps(connection.default_channel.queues["edge"].get()) for _ in range(4)]
    for body in bodies:  # as kombu puts them on SQS
        sqs.send_message(QueueUrl=edge_url, MessageBody=body)
    assert move_requests("edge", "cloud", 4, lambda model: model == "yolo-fastest-1.1-xl") == 2
    left = sqs.receive_message(QueueUrl=edge_url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert sorted(envelope.model_named(m["Body"]) or "" for m in left) == ["yolo-fastest-1.1"] * 2
    sqs.delete_message_batch(QueueUrl=edge_url, Entries=[
        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(left)])


def test_moved_messages_go_in_batches_sqs_takes_and_count_their_moves() -> None:
    big = [{"Body": "x" * (SQS_MAX_MESSAGE_BYTES // 2), "ReceiptHandle": str(n)} for n in range(5)]
    entries = [_entry(n, m) for n, m in enumerate(big)]
    batches = _batches(entries)
    assert [len(b) for b in batches] == [1] * 5  # two halves and their attributes are over the limit together
    assert all(sum(message_bytes(e["MessageBody"], e["MessageAttributes"]) for e in b) <= SQS_MAX_MESSAGE_BYTES
               for b in batches)
    small = [_entry(n, {"Body": "{}", "MessageAttributes": {MOVED_ATTRIBUTE: {
        "DataType": "Number", "StringValue": "1"}}}) for n in range(10)]
    assert [len(b) for b in _batches(small)] == [10]
    assert small[0]["MessageAttributes"][MOVED_ATTRIBUTE]["StringValue"] == "2"  # moved once before, now twice


def test_requests_waiting_on_a_slow_edge_move_to_an_idle_cloud_and_each_is_answered_once(
        emulator, cloud_worker, upload, photo) -> None:  # type: ignore[no-untyped-def]
    edge = Worker("edge-slow", "edge", concurrency=1, extra_env={"IRS_SERVICE_FLOOR_MS": "8000",
                                                                 "IRS_INSTANCE_ID": "edge-slow"})
    try:
        wait_until(lambda: "edge-slow" in reports.read("edge") and reports.read("cloud"), 60, "both pools' reports")
        keys = [upload(photo("dog.jpg"), "dog.jpg") for _ in range(8)]
        results = [classify.apply_async((key,), queue="edge") for key in keys]  # all on the slow edge
        wait_until(lambda: "received" in edge.text(), 30, "the edge worker to take one")
        moved = Rebalancer().turn()
        assert 5 <= moved <= 7, moved  # the waiting ones, evened out; the one in service stays
        answers = [result.get(timeout=90) for result in results]
        assert sum(d["pool"] == "cloud" for d in answers) == moved
        assert all(d["routing"]["pool"] == "edge" for d in answers)  # where each was sent before it moved
        for key, result in zip(keys, results, strict=True):
            listing = clients.client("s3").list_objects_v2(Bucket=get_settings().results_bucket,
                                                           Prefix=result_prefix(key))
            assert [item["Key"] for item in listing["Contents"]] == [result_key(result.id)]
    finally:
        edge.stop()
        documents.remove(f"{REPORTS_PREFIX}edge/edge-slow.json")  # others' premise: no edge worker lives
