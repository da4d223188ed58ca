"""How many messages a worker takes from its queue: a deep queue is read in batches, but a worker never holds
more than one waiting message per process, so a second worker finds the rest."""

from __future__ import annotations

import os
import signal

import pytest

from irs.aws import clients, documents
from irs.aws.queues import names, pool_depth, url
from irs.broker.transport import Channel, receive_now
from irs.fleet.schemas import REPORTS_PREFIX
from irs.pools import EDGE
from irs.settings import PREFETCH_MULTIPLIER, Settings
from irs.tasks import classify
from tests.conftest import Worker, wait_until


@pytest.mark.parametrize("processes", [1, 2, 16])
def test_a_worker_receives_only_once_none_of_its_messages_waits_for_a_process(processes: int) -> None:
    prefetch = processes * PREFETCH_MULTIPLIER
    assert receive_now(prefetch, processes)  # idle: at once
    assert receive_now(prefetch - processes, processes)  # every process busy, none waiting: the next batch is due
    assert not receive_now(prefetch - processes - 1, processes)  # one waits: no receive for the slot just freed


def test_messages_held_for_a_countdown_do_not_stop_a_worker_receiving() -> None:
    processes, later = 2, 6  # six retries wait for their countdown; Celery raised the prefetch by six
    prefetch = processes * PREFETCH_MULTIPLIER + later
    assert receive_now(prefetch - later, processes)  # nothing runs: receive, however many wait for later
    assert not receive_now(prefetch - later - processes - 1, processes)


def test_the_jobs_queue_is_received_from_only_while_no_interactive_request_is_held_or_waiting() -> None:
    processes = 2
    prefetch = processes * PREFETCH_MULTIPLIER
    assert receive_now(prefetch, processes, background=True, foreground_held=0)  # idle: a job takes the worker
    assert not receive_now(prefetch - 1, processes, background=True, foreground_held=1)  # one interactive runs
    assert receive_now(prefetch - 1, processes, background=False, foreground_held=1)  # more interactive: yes
    assert not receive_now(prefetch - processes - 1, processes, background=True)  # a job's request waits: no
    # Nothing interactive held, but its queue's last receive got all it asked for: there may be more of it.
    assert not receive_now(prefetch, processes, background=True, foreground_drained=False)


def test_a_channel_learns_how_many_processes_it_feeds_from_celerys_first_prefetch() -> None:
    channel = Channel.__new__(Channel)  # no connection needed: basic_qos only records
    channel.processes = None
    channel._qos = None
    channel.QoS = lambda owner: type("QoS", (), {"prefetch_count": 0})()
    channel.basic_qos(prefetch_count=16 * PREFETCH_MULTIPLIER)
    channel.basic_qos(prefetch_count=16 * PREFETCH_MULTIPLIER + 3)  # three held for a countdown
    assert channel.processes == 16 and channel.qos.prefetch_count == 16 * PREFETCH_MULTIPLIER + 3


def test_the_visibility_timeout_outlasts_a_message_waiting_behind_a_task_then_running() -> None:
    settings = Settings(task_time_limit=60)
    assert settings.visibility_timeout > PREFETCH_MULTIPLIER * settings.task_time_limit


def edge_counts() -> tuple[int, int]:
    """The edge queue's messages: waiting, and held by a worker."""
    depth = pool_depth(EDGE)
    return depth.waiting, depth.in_flight


def test_a_second_worker_gets_the_work_a_full_worker_leaves_in_the_queue(emulator, upload, photo) -> None:  # type: ignore[no-untyped-def]
    sqs = clients.client("sqs")
    edge_url = url(names(EDGE).queue)
    visibility = sqs.get_queue_attributes(QueueUrl=edge_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    # The full worker is killed at the end: what it held comes back in 10 s, for the second worker to answer.
    sqs.set_queue_attributes(QueueUrl=edge_url, Attributes={"VisibilityTimeout": "10"})
    keys = [upload(photo("dog.jpg"), "dog.jpg") for _ in range(6)]
    results = [classify.apply_async((key,), queue="edge") for key in keys]  # a deep queue, before any worker
    workers = [Worker("edge-full", "edge", concurrency=1, extra_env={"IRS_SERVICE_FLOOR_MS": "60000",
                                                                     "IRS_INSTANCE_ID": "edge-full"})]
    full = workers[0]
    try:
        held = PREFETCH_MULTIPLIER  # one process: the task it runs, and one waiting
        wait_until(lambda: edge_counts() == (len(keys) - held, held), 30, "the first worker to fill up")
        wait_until(lambda: sum(result.id in full.text() for result in results) == held, 30, "its log of them")
        workers.append(Worker("edge-second", "edge", concurrency=1, extra_env={"IRS_INSTANCE_ID": "edge-second"}))
        left = [result for result in results if result.id not in full.text()]
        # The full worker's first answer is a minute away: these are the second's.
        assert {result.get(timeout=60)["worker"].split("@")[0] for result in left} == {"edge-second"}
        assert len(left) == len(keys) - held
        os.killpg(full.process.pid, signal.SIGKILL)  # what it held comes back, and the second answers it
        full.process.wait()
        assert all(result.get(timeout=60)["status"] == "ok" for result in results)
        workers[1].stop()  # drained: its last acknowledgements sent
        assert edge_counts() == (0, 0)
    finally:
        if full.alive():
            os.killpg(full.process.pid, signal.SIGKILL)
            full.process.wait()
        for worker in workers[1:]:
            worker.stop()
        sqs.set_queue_attributes(QueueUrl=edge_url, Attributes={"VisibilityTimeout": visibility["VisibilityTimeout"]})
        for name in ("edge-full", "edge-second"):  # others' premise: no edge worker lives
            documents.remove(f"{REPORTS_PREFIX}edge/{name}.json")
