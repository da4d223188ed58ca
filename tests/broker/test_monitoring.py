"""Remote control, task events and Flower on SQS (irs.broker.monitoring), and nothing left behind by their consumers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from irs.aws import clients
from irs.janitor.orphans import QueueSeen, Sweeper, orphans
from irs.settings import get_settings
from irs.tasks import classify
from tests.conftest import ROOT, Worker, wait_until
from tests.helpers.ports import free_port

ALL_EVENTS = "task-*,worker-*"  # beyond the default, which sends only how tasks ended (and heartbeats)
MONITORED = {**os.environ, "IRS_MONITORING": "true", "IRS_MONITORING_EVENTS": ALL_EVENTS, "PYTHONUNBUFFERED": "1"}


def celery(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "celery", "-A", "irs", *args], cwd=ROOT, env=MONITORED,
                          capture_output=True, text=True, timeout=timeout)


def interruptible() -> None:
    """In a child before it runs: Ctrl-C (SIGINT) stops it as it stops a user's, even where the suite itself runs
    with SIGINT ignored (a shell's background job), which a child would otherwise inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(process: subprocess.Popen[str] | subprocess.Popen[bytes], what: str, said: str = "") -> None:
    """Ctrl-C, as a user stops it; killed, and the test failed, if it has not stopped 30 s later."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"{what} did not stop on Ctrl-C; it said:\n{said[-3000:]}") from None


def queues(marker: str) -> list[str]:
    urls = clients.client("sqs").list_queues(QueueNamePrefix=get_settings().queue_prefix).get("QueueUrls", [])
    return sorted(u.rsplit("/", 1)[-1] for u in urls if marker in u)


def subscribed_queues() -> set[str]:
    return {s["Endpoint"].rsplit(":", 1)[-1] for page in clients.client("sns").get_paginator(
        "list_subscriptions").paginate() for s in page["Subscriptions"]}


class Events:
    """`celery events --dump` in the background, its output collected as it comes; stopped on leaving a
    ``with`` block, whatever happened in it."""

    def __init__(self) -> None:
        self.before = set(queues("-celeryev-"))
        self.process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "irs", "events", "--dump"], cwd=ROOT,
                                        env=MONITORED, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=interruptible)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        self.lines.extend(self.process.stdout)

    def text(self) -> str:
        return "".join(self.lines)

    def subscribed(self) -> str:
        """Wait until its queue exists and is subscribed to the event topic; returns the queue's name."""
        wait_until(lambda: set(queues("-celeryev-")) - self.before, 30, "the receiver's queue")
        (queue,) = set(queues("-celeryev-")) - self.before
        wait_until(lambda: queue in subscribed_queues(), 30, "the receiver's subscription")
        return queue

    def receiving(self) -> None:
        """Wait until it has received an event (a worker's heartbeat): it is in its receive loop."""
        wait_until(lambda: "heartbeat" in self.text(), 30, "the receiver to receive an event")

    def __enter__(self) -> Events:
        return self

    def __exit__(self, *_: object) -> None:
        interrupt(self.process, "celery events", self.text())


@pytest.fixture(scope="module")
def monitored_worker(emulator: str) -> Iterator[Worker]:
    worker = Worker("monitored", "edge", concurrency=1,
                    extra_env={"IRS_MONITORING": "true", "IRS_MONITORING_EVENTS": ALL_EVENTS})
    yield worker
    worker.stop()


def test_a_consumer_is_orphaned_when_its_queue_holds_messages_at_two_sweeps() -> None:
    now = 10_000.0
    seen = [QueueSeen("irs-w1_vm-celery-pidbox", 0, now - 5000), QueueSeen("irs-celeryev-1", 4, now - 50),
            QueueSeen("irs-abc-reply-celery-pidbox", 0, now - 4000)]
    remove, suspects = orphans(seen, set(), now)
    assert remove == {"irs-abc-reply-celery-pidbox"} and suspects == {"irs-celeryev-1"}
    remove, suspects = orphans(seen, suspects, now + 60)
    assert "irs-celeryev-1" in remove  # still backlogged a minute later: nobody reads it
    drained = [QueueSeen("irs-celeryev-1", 0, now - 50)]
    assert orphans(drained, {"irs-celeryev-1"}, now + 60) == (set(), set())  # its reader caught up


def test_a_backlogged_queue_whose_consumer_still_polls_is_never_removed() -> None:
    now = 10_000.0
    slow = [QueueSeen("irs-celeryev-flower", 4000, now - 50, heartbeat_at=now - 30)]  # Flower in a flood
    assert orphans(slow, {"irs-celeryev-flower"}, now + 60) == (set(), set())
    silent = [QueueSeen("irs-celeryev-flower", 4000, now - 50, heartbeat_at=now - 3600)]  # it died an hour ago
    assert orphans(silent, {"irs-celeryev-flower"}, now + 60) == ({"irs-celeryev-flower"}, set())


def test_inspect_ping_and_control_answer_within_seconds(monitored_worker) -> None:  # type: ignore[no-untyped-def]
    ping = celery("inspect", "ping", "--json")
    assert ping.returncode == 0, ping.stderr
    assert json.loads(ping.stdout.strip().splitlines()[-1]) == {"monitored@" + os.uname().nodename: {"ok": "pong"}}
    limit = celery("control", "rate_limit", "irs.tasks.classify", "120/m")
    assert limit.returncode == 0 and "new rate limit set successfully" in limit.stdout, limit.stderr
    assert queues("-reply-celery-pidbox") == []  # every reply queue went with its inspect call


def test_events_show_the_task_lifecycle_and_heartbeats(monitored_worker, upload, photo
                                                      ) -> None:  # type: ignore[no-untyped-def]
    with Events() as events:
        events.subscribed()
        classify.apply_async((upload(photo("dog.jpg"), "dog.jpg"),), queue="edge").get(timeout=60)
        wait_until(lambda: "task succeeded" in events.text() and "heartbeat" in events.text(), 60,
                   "the task's events and a heartbeat")
    output = events.text()
    assert "task received" in output and "task started" in output and "task succeeded" in output, output[-2000:]
    assert "heartbeat" in output


def test_event_receivers_leave_no_queue_or_subscription_behind(monitored_worker) -> None:  # type: ignore[no-untyped-def]
    before = queues("-celeryev-")
    for _ in range(3):
        with Events() as events:
            events.subscribed()
            events.receiving()  # past its setup: a receiver stopped during its setup is not what is tested here
    assert queues("-celeryev-") == before
    assert not {q for q in subscribed_queues() if "-celeryev-" in q} - set(before)


def test_the_sweep_removes_what_a_killed_receiver_left(monitored_worker, upload, photo
                                                      ) -> None:  # type: ignore[no-untyped-def]
    with Events() as events:
        left = events.subscribed()
        events.process.kill()  # no chance to clean up
        events.process.wait(10)
    classify.apply_async((upload(photo("dog.jpg"), "dog.jpg"),), queue="edge").get(timeout=60)  # events flow
    sweeper = Sweeper()
    wait_until(lambda: left in sweeper.sweep() or left not in queues("-celeryev-"), 60,
               "two sweeps to find its queue filling with heartbeats", interval=3)
    assert left not in queues("-celeryev-") and left not in subscribed_queues()


def test_a_malformed_message_on_the_control_queue_does_not_stop_the_worker(monitored_worker) -> None:  # type: ignore[no-untyped-def]
    sqs = clients.client("sqs")
    (pidbox,) = [q for q in queues("-celery-pidbox") if q.startswith(f"{get_settings().queue_prefix}monitored")]
    url = sqs.get_queue_url(QueueName=pidbox)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="this is not a kombu message")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"foreign": True}))

    def held() -> int:
        found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return sum(int(value) for value in found.values())

    wait_until(lambda: held() == 0, 30, "the worker to drop both")
    assert monitored_worker.alive()
    assert celery("inspect", "ping").returncode == 0


def test_flower_lists_workers_and_tasks(monitored_worker, upload, photo) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    receivers = {q for q in subscribed_queues() if "-celeryev-" in q}
    flower = subprocess.Popen([sys.executable, "-m", "celery", "-A", "irs", "flower", "--address=127.0.0.1",
                               f"--port={port}", "--basic-auth=irs:secret"], cwd=ROOT, env=MONITORED,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=interruptible)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/healthcheck"), 60, "flower")
        wait_until(lambda: {q for q in subscribed_queues() if "-celeryev-" in q} - receivers, 30,
                   "flower's event receiver to subscribe")
        assert httpx.get(f"{base}/api/workers").status_code == 401  # auth is on
        classify.apply_async((upload(photo("eagle.jpg"), "eagle.jpg"),), queue="edge").get(timeout=60)
        auth = ("irs", "secret")
        wait_until(lambda: any(t.get("state") == "SUCCESS" for t in httpx.get(
            f"{base}/api/tasks", auth=auth, timeout=10).json().values()), 60, "flower to see the task succeed")
        workers = httpx.get(f"{base}/api/workers", auth=auth, params={"refresh": "true"}, timeout=30).json()
        assert any(name.startswith("monitored@") for name in workers), workers
        metrics = httpx.get(f"{base}/metrics", auth=auth, timeout=10).text
        assert "flower_events_total" in metrics
        # Poison on the worker's control queue and on Flower's own event queue, while Flower runs.
        from tests.broker import poison

        sqs = clients.client("sqs")
        (pidbox,) = [q for q in queues("-celery-pidbox") if q.startswith(f"{get_settings().queue_prefix}monitored")]
        targets = [pidbox, *({q for q in queues("-celeryev-")} & ({q for q in subscribed_queues()} - receivers))]
        dropped_before = monitored_worker.text().count("dropped a message")
        for queue in targets:
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            for body, _ in poison.CORPUS:
                sqs.send_message(QueueUrl=url, MessageBody=body)
        expected = dropped_before + len(poison.CORPUS)
        wait_until(lambda: monitored_worker.text().count("dropped a message") >= expected, 30,
                   "the worker to drop the poison on its control queue")
        assert flower.poll() is None and monitored_worker.alive()
        assert _answers(f"{base}/healthcheck") and celery("inspect", "ping").returncode == 0
        wait_until(lambda: httpx.get(f"{base}/api/workers", auth=auth, timeout=10).status_code == 200, 10,
                   "flower's API to answer")
    finally:
        interrupt(flower, "flower")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_bridges_are_on_because_upstream_still_needs_them() -> None:
    from kombu.transport import SQS

    from irs.broker import monitoring

    # When one of these fails, upstream has caught up: the bridge steps aside; check the others.
    assert "fanout" not in SQS.Transport.implements.exchange_type
    assert not monitoring.celery_makes_sqs_events_fanout()
    assert "fanout" in monitoring.Transport.implements.exchange_type


def test_only_the_event_types_asked_for_are_sent(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import base64

    from irs.broker.monitoring import _wanted_only

    monkeypatch.setattr(get_settings(), "monitoring_events", "task-succeeded,worker-*")

    def message(body: object) -> dict[str, object]:
        return {"body": base64.b64encode(json.dumps(body).encode()).decode(),
                "properties": {"body_encoding": "base64"}}

    assert _wanted_only(message({"type": "task-received"})) is None
    assert _wanted_only(message({"type": "worker-heartbeat"})) is not None
    batch = _wanted_only(message([{"type": "task-received"}, {"type": "task-started"}, {"type": "task-succeeded"}]))
    assert batch is not None
    assert json.loads(base64.b64decode(str(batch["body"]))) == [{"type": "task-succeeded"}]
    assert _wanted_only(message([{"type": "task-received"}, {"type": "task-started"}])) is None
