"""Messages that are not valid tasks end in the dead-letter queue; the worker keeps serving."""

from __future__ import annotations

import json
from typing import Any

from irs.aws import clients
from irs.aws.queues import queue_names
from irs.broker.app import app
from irs.tasks import classify
from tests.conftest import wait_until


def _urls() -> tuple[str, str]:
    names = next(n for n in queue_names() if n.pool == "cloud")
    sqs = clients.client("sqs")
    return (sqs.get_queue_url(QueueName=names.queue)["QueueUrl"],
            sqs.get_queue_url(QueueName=names.dead_letter)["QueueUrl"])


def _drain(url: str) -> list[dict[str, Any]]:
    sqs, got = clients.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"]).get("Messages", []):
        got.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return got


def test_poison_messages_are_dead_lettered_and_the_worker_survives(cloud_worker, upload, photo) -> None:  # type: ignore[no-untyped-def]
    queue_url, dlq_url = _urls()
    _drain(dlq_url)
    sqs = clients.client("sqs")
    sqs.send_message(QueueUrl=queue_url, MessageBody="\x00 not json, not base64 {")
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"hello": "a foreign JSON message"}))
    app.send_task("irs.tasks.no_such_task", args=["x"], queue="cloud")
    unsafe = "pickle"  # what a careless or hostile producer might send
    app.send_task("irs.tasks.classify", args=["uploads/x.jpg"], queue="cloud", serializer=unsafe)
    app.send_task("irs.tasks.classify", args=[1, 2, 3], queue="cloud")  # a valid task called wrongly

    dead: list[dict[str, Any]] = []
    wait_until(lambda: len(dead.extend(_drain(dlq_url)) or dead) >= 5, 60, "five dead-lettered messages")
    assert cloud_worker.alive(), cloud_worker.text()[-3000:]
    assert all(m["MessageAttributes"]["irs-reason"]["StringValue"] for m in dead)

    doc = classify.delay(upload(photo("giraffe.jpg"), "giraffe.jpg")).get(timeout=60)
    assert doc["status"] == "ok" and "giraffe" in doc["summary"]
