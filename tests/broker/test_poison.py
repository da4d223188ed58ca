"""Any bytes on an IRS task queue stop nothing: each bad message is dead-lettered with its reason, the worker
keeps its PID, and good requests are served meanwhile. Generated messages (hypothesis) go through the real
transport to real worker processes, beside a fixed corpus of shapes found before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from irs.aws import clients, queues
from irs.broker.app import app
from irs.tasks import classify
from tests.broker import poison
from tests.conftest import IMAGES, Worker, wait_until
from tests.helpers.queues import drain

pytestmark = pytest.mark.integration  # real workers, fetched by name below where hypothesis drives the test
BATCH = 100  # generated messages per example


@pytest.fixture(scope="module")
def edge_worker(emulator: str) -> Iterator[Worker]:
    worker = Worker("edge-fuzz", "edge", concurrency=1, extra_env={"IRS_INSTANCE_ID": "edge-fuzz"})
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def giraffe(emulator: str) -> str:
    key = "uploads/poison-test/giraffe.jpg"
    clients.client("s3").put_object(Bucket="irs-uploads", Key=key, Body=(IMAGES / "giraffe.jpg").read_bytes())
    return key


def send_and_check(pool: str, worker: Worker, bodies: list[str], key: str) -> None:
    """Send ``bodies`` and one good request to ``pool``; every body ends dead-lettered with the reason the
    admission check gives it, the worker keeps its PID, and the good request is answered."""
    names = queues.names(pool)
    queue_url, dlq_url = queues.url(names.queue), queues.url(names.dead_letter)
    drain(dlq_url)
    pid = worker.process.pid
    sqs = clients.client("sqs")
    for start in range(0, len(bodies), 10):
        sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[start:start + 10])])
        assert not sent.get("Failed"), sent["Failed"]
    good = classify.apply_async((key,), queue=pool)
    dead: list[dict[str, Any]] = []
    wait_until(lambda: len(dead.extend(drain(dlq_url)) or dead) >= len(bodies), 120,
               f"{len(bodies)} dead-lettered messages")
    assert worker.alive() and worker.process.pid == pid, worker.text()[-3000:]
    reasons = {m["Body"]: m["MessageAttributes"]["irs-reason"]["StringValue"] for m in dead}
    for body in bodies:
        expected = poison.refusal_on_receipt(body)
        assert expected is not None and reasons.get(body, "")[:200] == expected[:200], (body[:200], expected)
    document = good.get(timeout=60)
    assert document["status"] == "ok" and "giraffe" in document["summary"]


def test_the_corpus_is_dead_lettered_with_its_reasons_and_the_worker_survives(cloud_worker, giraffe) -> None:  # type: ignore[no-untyped-def]
    corpus = [body for body, _ in poison.corpus_with_template()]
    poison.SENT["corpus"] += len(corpus)
    send_and_check("cloud", cloud_worker, corpus, giraffe)


@pytest.mark.parametrize("pool", ["cloud", "edge"])
@given(bodies=st.lists(poison.poison, min_size=BATCH, max_size=BATCH))
@settings(max_examples=2, deadline=None, database=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.generate])  # each example costs real workers seconds: report a failure as found
def test_generated_messages_stop_no_worker(pool: str, bodies: list[str], request: pytest.FixtureRequest) -> None:
    worker = request.getfixturevalue("cloud_worker" if pool == "cloud" else "edge_worker")
    poison.SENT["generated"] += len(bodies)
    send_and_check(pool, worker, bodies, request.getfixturevalue("giraffe"))


def test_celery_level_poison_is_dead_lettered_too(cloud_worker, giraffe) -> None:  # type: ignore[no-untyped-def]
    """What a careless producer sends through Celery itself: an unknown task, pickle, wrong arguments."""
    _, dlq_url = queues.url(queues.names("cloud").queue), queues.url(queues.names("cloud").dead_letter)
    drain(dlq_url)
    app.send_task("irs.tasks.no_such_task", args=["x"], queue="cloud")
    unsafe = "pickle"  # what a careless or hostile producer might send
    app.send_task("irs.tasks.classify", args=["uploads/x.jpg"], queue="cloud", serializer=unsafe)
    app.send_task("irs.tasks.classify", args=[1, 2, 3], queue="cloud", task_id="0" * 32 + ":1")  # called wrongly
    dead: list[dict[str, Any]] = []
    wait_until(lambda: len(dead.extend(drain(dlq_url)) or dead) >= 3, 60, "three dead-lettered messages")
    reasons = sorted(m["MessageAttributes"]["irs-reason"]["StringValue"] for m in dead)
    assert any("unknown task irs.tasks.no_such_task" in r for r in reasons), reasons
    assert any("content-type" in r for r in reasons) and any("takes the image key" in r for r in reasons), reasons
    assert cloud_worker.alive()


def test_a_message_forged_with_another_requests_id_cannot_replace_its_result(cloud_worker, giraffe) -> None:  # type: ignore[no-untyped-def]
    first = classify.apply_async((giraffe,), queue="cloud")
    original = first.get(timeout=60)
    forged = poison.with_key(giraffe)  # a well-formed request for the same image...
    forged["headers"]["id"] = forged["headers"]["root_id"] = forged["properties"]["correlation_id"] = first.id
    forged["headers"]["irs_route"] = {"pool": "cloud", "reason": "forged", "expected_s": {}}  # ...that says so
    clients.client("sqs").send_message(QueueUrl=queues.url(queues.names("cloud").queue),
                                       MessageBody=poison.text(forged))
    wait_until(lambda: cloud_worker.text().count(f"[{first.id}] received") >= 2, 60, "the forged message to be run")
    wait_until(lambda: f"Task irs.tasks.classify[{first.id}] succeeded" in cloud_worker.text().split(
        f"[{first.id}] received")[-1], 60, "the forged run to end")
    from irs.aws import documents
    from irs.results import result_key

    assert documents.get(result_key(first.id)) == original  # the first result stays, to the byte


def test_a_message_at_sqss_size_limit_is_dead_lettered_with_its_reason_and_the_copy_fits(cloud_worker) -> None:  # type: ignore[no-untyped-def]
    names = queues.names("cloud")
    dlq_url = queues.url(names.dead_letter)
    drain(dlq_url)
    body = "x" * queues.SQS_MAX_MESSAGE_BYTES  # not JSON, and as long as SQS takes
    clients.client("sqs").send_message(QueueUrl=queues.url(names.queue), MessageBody=body)
    dead: list[dict[str, Any]] = []
    wait_until(lambda: len(dead.extend(drain(dlq_url)) or dead) >= 1, 60, "the dead-lettered copy")
    [copy] = dead
    attributes = {name: {"DataType": a["DataType"], "StringValue": a["StringValue"]}
                  for name, a in copy["MessageAttributes"].items()}
    assert queues.message_bytes(copy["Body"], attributes) <= queues.SQS_MAX_MESSAGE_BYTES
    assert attributes["irs-reason"]["StringValue"].startswith("not JSON")
    assert attributes["irs-body-bytes"]["StringValue"] == str(len(body)) and body.startswith(copy["Body"])
    assert cloud_worker.alive()
