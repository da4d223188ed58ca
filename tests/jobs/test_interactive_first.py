"""A job never delays interactive requests: a cloud worker takes the jobs queue's requests only while it holds no
interactive one, so a backlog of both is served interactive first."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from irs.aws import clients
from irs.results import ResultDocument, result_key
from irs.settings import PREFETCH_MULTIPLIER
from tests.conftest import IMAGES, ROOT, Worker, wait_until

SEND = """if True:
    import sys
    from irs.aws.provision import provision
    from irs.broker.app import app
    from irs.client import put_image
    from irs.contract import arguments
    from irs.pools import CLOUD, JOBS
    from irs.tasks import classify
    provision(say=lambda _: None)
    batch, jobs, interactive = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    photo = open(sys.argv[4], "rb").read()
    with app.producer_or_acquire() as producer, producer.channel.batched_sends():
        for queue, count in ((JOBS, jobs), (CLOUD, interactive)):
            for n in range(count):
                key = f"uploads/{batch}/{queue}-{n:02d}.jpg"
                put_image(key, photo)
                print(classify.apply_async(arguments(key), queue=queue, producer=producer).id)
"""


def test_a_backlog_of_job_and_interactive_requests_is_served_interactive_first(emulator: str) -> None:
    own = f"irs-test-first-{uuid.uuid4().hex[:6]}"  # queues and buckets of its own: no other worker serves them
    env = {**os.environ, "IRS_QUEUE_PREFIX": f"{own}-", "IRS_INPUT_BUCKET": f"{own}-in",
           "IRS_RESULTS_BUCKET": f"{own}-out"}
    jobs, interactive, processes = 12, 8, 1
    batch = f"first-{uuid.uuid4().hex[:8]}"
    sent = subprocess.run([sys.executable, "-c", SEND, batch, str(jobs), str(interactive), str(IMAGES / "dog.jpg")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    ids = sent.stdout.split()
    assert len(ids) == jobs + interactive
    worker = Worker("first", "cloud", concurrency=processes, extra_env={**env, "IRS_SERVICE_FLOOR_MS": "150"})
    try:
        wait_until(lambda: all(_document(env, i) for i in ids), 120, "every request's document")
    finally:
        worker.stop()
    found = [ResultDocument.model_validate_json(_document(env, i) or b"") for i in ids]
    started = sorted((d.started_at or "", "jobs-" in d.image_key) for d in found)
    last_interactive = max(n for n, (_, job) in enumerate(started) if not job)
    jobs_before = sum(job for _, job in started[:last_interactive])
    # Only the job requests taken before the first interactive one arrived may go first: one receive's worth.
    assert jobs_before <= PREFETCH_MULTIPLIER * processes, [job for _, job in started]


def _document(env: dict[str, str], task_id: str) -> bytes | None:
    try:
        found = clients.client("s3").get_object(Bucket=env["IRS_RESULTS_BUCKET"], Key=result_key(task_id))
    except clients.client("s3").exceptions.NoSuchKey:
        return None
    body: bytes = found["Body"].read()
    return body
