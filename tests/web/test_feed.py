"""Result notices fan out to every web process, and a stopped or crashed one leaves no queue behind."""

from __future__ import annotations

import time

from irs.aws import clients, feeds, queues
from tests.conftest import IMAGES, wait_until


def feed_queues() -> set[str]:
    return set(clients.client("sqs").list_queues(QueueNamePrefix=feeds.queue_prefix()).get("QueueUrls", []))


def test_every_web_process_hears_of_every_result(web, web_server) -> None:  # type: ignore[no-untyped-def]
    other = web_server("second")
    with web.client() as client:
        request = client.post("/api/v1/images", files=[("files", ("dog.jpg", (IMAGES / "dog.jpg").read_bytes(),
                                                                   "image/jpeg"))]).json()["requests"][0]
        client.get(request["result_url"], params={"wait": 30}).raise_for_status()
    with other.client() as client:  # never asked about it: it can only have heard the notice
        wait_until(lambda: request["request_id"] in [d["task_id"] for d in client.get(
            "/api/v1/results", params={"limit": 500}).json()["results"]], 10, "the second process to hear of it")


def test_a_stopped_web_process_removes_its_queue_and_subscription(web, web_server) -> None:  # type: ignore[no-untyped-def]
    before = feed_queues()
    server = web_server("short-lived")
    mine = feed_queues() - before
    assert len(mine) == 1
    server.stop()
    assert feed_queues() == before
    subscribed = {s["Endpoint"].rsplit(":", 1)[-1] for s in clients.client("sns").list_subscriptions_by_topic(
        TopicArn=feeds.topic_arn())["Subscriptions"]}
    assert not {url.rsplit("/", 1)[-1] for url in mine} & subscribed


def test_the_sweep_removes_what_a_crashed_listener_left_and_nothing_else(web) -> None:  # type: ignore[no-untyped-def]
    live = feed_queues()
    crashed = feeds.Subscription.open()  # a listener that dies without closing
    assert feeds.sweep() == 0  # still fresh: it might be alive
    stale = str(int(time.time() - feeds.ORPHAN_S - 60))  # ...and then nobody touches it for too long
    clients.client("sqs").tag_queue(QueueUrl=crashed.queue_url, Tags={feeds.HEARTBEAT_TAG: stale})
    assert feeds.sweep() == 1
    assert feed_queues() == live  # the crashed one is gone, the live web process's is not
    subscribed = {s["Endpoint"] for s in clients.client("sns").list_subscriptions_by_topic(
        TopicArn=feeds.topic_arn())["Subscriptions"]}
    assert crashed.queue_arn not in subscribed


def test_anything_on_a_web_process_feed_queue_stops_nothing(web_server, cloud_worker) -> None:  # type: ignore[no-untyped-def]
    """Poison on the feed queue is dropped and counted: the process stays ready and still hears of results."""
    from tests.broker import poison

    server = web_server("fed-poison")
    mine = sorted(feed_queues())
    sqs = clients.client("sqs")
    bodies = [body for body, _ in poison.CORPUS] + ['{"Records": [{"eventName": 1}]}',
                                                     '{"Records": ' + "[" * 50_000 + "]" * 50_000 + "}"]
    for queue_url in mine:  # every listener's queue, this one's included
        for body in bodies:
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    with server.client() as client:
        def dropped() -> float:
            for line in client.get("/metrics/").text.splitlines():
                if line.startswith("irs_feed_messages_dropped_total "):
                    return float(line.split()[1])
            return 0.0

        wait_until(lambda: dropped() >= len(bodies), 30, "the process to drop every poison message")
        assert server.process.poll() is None
        assert client.get("/health/ready").json()["status"] == "ready"
        request = client.post("/api/v1/images", files=[("files", ("dog.jpg", (IMAGES / "dog.jpg").read_bytes(),
                                                                   "image/jpeg"))]).json()["requests"][0]
        answer = client.get(request["result_url"], params={"wait": 30})
        assert answer.json().get("status") == "ok", answer.text


def test_a_killed_web_process_queue_is_swept_and_a_restarted_one_serves_results(web_server, cloud_worker) -> None:  # type: ignore[no-untyped-def]
    before = feed_queues()
    doomed = web_server("killed")
    (held,) = feed_queues() - before
    held_arn = queues.arn(held)
    doomed.process.kill()  # SIGKILL: no chance to remove its queue
    doomed.process.wait()
    assert held in feed_queues()
    stale = str(int(time.time() - feeds.ORPHAN_S - 60))  # ...and then nobody touches it for too long
    clients.client("sqs").tag_queue(QueueUrl=held, Tags={feeds.HEARTBEAT_TAG: stale})

    restarted = web_server("restarted")  # it sweeps what crashed listeners left before it subscribes
    assert held not in feed_queues()
    subscribed = {s["Endpoint"] for s in clients.client("sns").list_subscriptions_by_topic(
        TopicArn=feeds.topic_arn())["Subscriptions"]}
    assert held_arn not in subscribed
    with restarted.client() as client:
        request = client.post("/api/v1/images", files=[("files", ("dog.jpg", (IMAGES / "dog.jpg").read_bytes(),
                                                                   "image/jpeg"))]).json()["requests"][0]
        answer = client.get(request["result_url"], params={"wait": 30})
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_the_sweep_removes_a_subscription_whose_queue_is_gone(web) -> None:  # type: ignore[no-untyped-def]
    """A listener killed between removing its queue and its subscription leaves the subscription alone."""
    half_closed = feeds.Subscription.open()
    clients.client("sqs").delete_queue(QueueUrl=half_closed.queue_url)
    feeds.sweep()
    listed = clients.client("sns").list_subscriptions_by_topic(TopicArn=feeds.topic_arn())["Subscriptions"]
    assert half_closed.subscription_arn not in {s["SubscriptionArn"] for s in listed}
    assert {queues.arn(url) for url in feed_queues()} <= {s["Endpoint"] for s in listed}  # live ones untouched
