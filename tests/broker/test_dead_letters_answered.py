"""A dead letter is never silent: whoever waits on a request that IRS dead-letters gets its answer at once, an
error document of kind ``dead_lettered`` with the reason, and no message can replace a real result that way."""

from __future__ import annotations

from typing import Any

import pytest

from irs.aws import clients, documents, queues
from irs.results import result_key
from irs.settings import get_settings
from irs.tasks import classify
from tests.broker import poison
from tests.conftest import IMAGES, Worker, wait_until
from tests.helpers.queues import drain


@pytest.fixture(scope="module")
def giraffe(emulator: str) -> str:
    key = "uploads/dead-letters-test/giraffe.jpg"
    clients.client("s3").put_object(Bucket=get_settings().input_bucket, Key=key,
                                    Body=(IMAGES / "giraffe.jpg").read_bytes())
    return key


def dead_letters(pool: str) -> list[dict[str, Any]]:
    return drain(queues.url(queues.names(pool).dead_letter))


def test_a_request_the_admission_check_refuses_is_answered_dead_lettered_with_the_reason(cloud_worker, giraffe) -> None:  # type: ignore[no-untyped-def]
    result = classify.apply_async((giraffe,), queue="cloud", time_limit=10**6)  # beyond any worker's limit
    document = result.get(timeout=30)
    assert document["status"] == "error" and document["error_kind"] == "dead_lettered", document
    assert document["task_id"] == result.id and "headers.timelimit" in document["error"]
    assert any(m["Body"] and "irs-reason" in m["MessageAttributes"] for m in dead_letters("cloud"))


def test_a_request_whose_every_worker_died_is_answered_dead_lettered_on_the_receive_after_its_last(
        emulator, giraffe) -> None:  # type: ignore[no-untyped-def]
    settings, sqs = get_settings(), clients.client("sqs")
    url = queues.url(queues.names("edge").queue)
    dead_letters("edge")
    result = classify.apply_async((giraffe,), queue="edge")
    def taken() -> bool:  # as if a worker took it and died
        return bool(sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=1).get("Messages"))

    for _ in range(settings.max_receives):
        wait_until(taken, 30, "the request to be received")
    worker = Worker("redrive", "edge", concurrency=1)
    try:
        document = result.get(timeout=60)
    finally:
        worker.stop()
    assert document["error_kind"] == "dead_lettered", document
    assert f"received {settings.max_receives} times and never answered" in document["error"]
    [copy] = dead_letters("edge")
    assert copy["MessageAttributes"]["irs-reason"]["StringValue"] == document["error"].removeprefix("dead-lettered: ")


def test_a_refused_message_naming_an_answered_request_cannot_replace_its_result(cloud_worker, giraffe) -> None:  # type: ignore[no-untyped-def]
    first = classify.apply_async((giraffe,), queue="cloud")
    original = first.get(timeout=60)
    forged = poison.with_key(giraffe)
    forged["headers"]["id"] = first.id
    forged["headers"]["timelimit"] = [10**6, None]  # refused, so dead-lettered: its "answer" must not land
    clients.client("sqs").send_message(QueueUrl=queues.url(queues.names("cloud").queue),
                                       MessageBody=poison.text(forged))
    wait_until(lambda: any("headers.timelimit" in m["MessageAttributes"]["irs-reason"]["StringValue"]
                           for m in dead_letters("cloud")), 60, "the forged message to be dead-lettered")
    assert documents.get(result_key(first.id)) == original  # the first result stays, to the byte
