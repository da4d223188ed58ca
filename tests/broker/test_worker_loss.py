"""A worker process killed mid-task: the image is still answered, with exactly one document."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from irs.aws import clients
from irs.results import result_key, result_prefix
from irs.settings import get_settings
from irs.tasks import classify
from tests import images
from tests.conftest import Worker, wait_until


def cpu_ticks(pid: int) -> int:
    """CPU time a process has used, in clock ticks (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_kill_9_of_the_pool_child_mid_task_still_gives_exactly_one_result(emulator, upload) -> None:  # type: ignore[no-untyped-def]
    # One child, and a PNG big enough (108 Mpx) that decoding it takes about a second.
    worker = Worker("loss", "edge", concurrency=1, extra_env={"IRS_MAX_IMAGE_PIXELS": "200000000"})
    try:
        key = upload(images.gradient(12000, 9000, ".png"), "huge.png")
        result = classify.apply_async((key,), queue="edge")
        wait_until(lambda: f"[{result.id}] received" in worker.text(), 30, "the task to reach the worker", 0.005)
        (child,) = worker.children()
        began = cpu_ticks(child)
        wait_until(lambda: cpu_ticks(child) - began >= 10, 30, "the child to be decoding it", 0.005)
        os.kill(child, signal.SIGKILL)

        doc = result.get(timeout=120)
        log = worker.text()
        assert "WorkerLostError" in log and log.count(f"[{result.id}] received") == 2, "not killed mid-task"
        assert doc["status"] == "ok" and doc["pool"] == "edge"
        listing = clients.client("s3").list_objects_v2(Bucket=get_settings().results_bucket, Prefix=result_prefix(key))
        assert [item["Key"] for item in listing["Contents"]] == [result_key(result.id)]
    finally:
        worker.stop()
