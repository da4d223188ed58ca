"""Jobs over S3: how fast a job lists and sends, how soon a watch answers, and what a job does to interactive
requests.

    python bench/jobs.py [--json] [--objects N] [--job-images N] [--interactive N]

On a private local stack (LocalStack on loopback, a real `celery worker -c 2` serving the cloud and jobs
queues). LocalStack, not moto's server: moto's SendMessageBatch costs time in proportion to the messages already
queued (53 ms a batch into an empty queue, 540 ms at 2,500 waiting, on this machine), which would measure moto
rather than the client; `--emulator moto` runs it there anyway.

  enqueue      `irs job start --yes` in a process of its own over a prefix of N objects (default 10,000; small
               objects named .jpg, no worker running): objects listed and sent per second, and the process's
               peak memory, beside the same for a tenth of the prefix (a client that held the listing would grow
               with it)
  watch        a burst of photos put under a watched prefix, with the janitor's watch job running as
               `irs autoscale` runs it: seconds from the last object put to its document
  interactive  single-image requests as `irs classify` sends them (upload, route, wait for the document), two
               a second: latency p50 and p95 alone, during a job of --job-images photos, and during the same
               photos sent to the interactive queue instead (what a job would do without a queue of its own)

The enqueue rate includes the new process's start (imports, first requests) as a user's command would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack import cpu_model, private_environment, say, wait_for_reports  # noqa: E402
from report import emit_result  # noqa: E402

SOURCE = "irs-bench-source"
START = """if True:
    import json, resource, sys, time
    from irs.jobs.run import start
    began = time.perf_counter()
    job = start(sys.argv[1], name=sys.argv[2])
    print(json.dumps({"seconds": time.perf_counter() - began, "listed": job.listed, "enqueued": job.enqueued,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def put_many(prefix: str, count: int, body: bytes) -> None:
    from irs.aws.clients import client

    s3 = client("s3")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: s3.put_object(Bucket=SOURCE, Key=f"{prefix}{n:06d}.jpg", Body=body), range(count)))


def enqueue_leg(objects: int) -> dict[str, Any]:
    """`irs job start` over a prefix of ``objects`` objects and over a tenth of it, each in a process of its own."""
    from irs.aws import queues
    from irs.aws.clients import client
    from irs.pools import JOBS

    found: dict[str, Any] = {}
    for count in (objects // 10, objects):
        prefix = f"enqueue-{count}/"
        say(f"enqueue: putting {count:,} objects under s3://{SOURCE}/{prefix}")
        put_many(prefix, count, b"\xff\xd8" + b"\0" * 1000)
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", START, f"s3://{SOURCE}/{prefix}", f"enqueue-{count}"],
                              cwd=ROOT, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - began
        inner = json.loads(done.stdout.strip().splitlines()[-1])
        waiting = queues.depth(queues.names(JOBS).queue).waiting
        assert inner["enqueued"] == count and waiting >= count, (inner, waiting)
        found[str(count)] = {"objects": count, "command_s": round(wall, 2), "start_s": round(inner["seconds"], 2),
                             "sent_per_s": round(count / inner["seconds"], 1),
                             "sent_per_s_with_process_start": round(count / wall, 1),
                             "peak_rss_mb": round(inner["peak_rss_mb"], 1)}
        say(f"  {found[str(count)]}")
    client("sqs").purge_queue(QueueUrl=queues.url(queues.names(JOBS).queue))  # no worker ever sees them
    return found


def watch_leg(photos: list[Path], burst: int, rounds: int) -> dict[str, Any]:
    """A burst of photos put under a watched prefix; the time from the last put to its document."""
    from irs.aws import documents
    from irs.aws.clients import client
    from irs.janitor.schedule import Janitor, Job
    from irs.jobs import watch
    from irs.results import result_prefix

    watch.add(f"s3://{SOURCE}/inbox/", ".jpg")
    stop = threading.Event()
    janitor = Janitor([Job("watch", watch.EVERY_S, watch.take_notices, "sent")], say=lambda _: None)
    threading.Thread(target=janitor.run, args=(stop,), daemon=True).start()
    s3, seconds = client("s3"), []
    try:
        for turn in range(rounds):
            for n in range(burst):
                s3.put_object(Bucket=SOURCE, Key=f"inbox/{turn}-{n:03d}.jpg", Body=photos[n % len(photos)].read_bytes())
            last = time.perf_counter()
            prefix = result_prefix(f"s3://{SOURCE}/inbox/{turn}-{burst - 1:03d}.jpg")
            while not any(True for _ in documents.listing(prefix)):
                time.sleep(0.05)
            seconds.append(time.perf_counter() - last)
            say(f"watch: round {turn + 1}: {seconds[-1]:.2f} s from the last put to its document")
    finally:
        stop.set()
        watch.remove(f"s3://{SOURCE}/inbox/", ".jpg")
    return {"burst": burst, "rounds": rounds, "last_put_to_document_s": [round(s, 2) for s in seconds],
            "median_s": round(statistics.median(seconds), 2), "janitor_every_s": watch.EVERY_S}


def interactive(photos: list[Path], count: int, every_s: float) -> list[float]:
    """``count`` single-image requests, one every ``every_s``, each as `irs classify` sends it; their latencies."""
    from irs.client import collect, submit_files

    def one(path: Path) -> float:
        began = time.perf_counter()
        list(collect(submit_files([path]), timeout=600))
        return time.perf_counter() - began

    with ThreadPoolExecutor(16) as pool:
        futures = []
        for n in range(count):
            futures.append(pool.submit(one, photos[n % len(photos)]))
            time.sleep(every_s)
        return [f.result() for f in futures]


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1)}


def interactive_leg(photos: list[Path], job_images: int, count: int) -> dict[str, Any]:
    """Interactive latency alone, during a job, and during the same work sent to the interactive queue."""
    from irs.broker.app import app
    from irs.contract import arguments
    from irs.jobs import progress
    from irs.jobs.run import start
    from irs.pools import CLOUD
    from irs.tasks import classify

    every_s = 0.5
    say(f"interactive: putting {job_images} photos for the job")
    for n in range(job_images):
        from irs.aws.clients import client

        client("s3").put_object(Bucket=SOURCE, Key=f"job/{n:05d}.jpg", Body=photos[n % len(photos)].read_bytes())
    found: dict[str, Any] = {"requests": count, "every_s": every_s, "job_images": job_images}
    say(f"interactive: {count} requests alone")
    found["alone"] = _percentiles(interactive(photos, count, every_s))
    say(f"interactive: {count} requests during a job of {job_images} images")
    began = time.perf_counter()
    start(f"s3://{SOURCE}/job/", name="during")
    found["during_job"] = _percentiles(interactive(photos, count, every_s))
    while not progress.measure("during").complete:
        time.sleep(1)
    found["job_images_per_s"] = round(job_images / (time.perf_counter() - began), 1)
    say(f"interactive: {count} requests during the same images sent to the interactive queue")
    with app.producer_or_acquire() as producer, producer.channel.batched_sends():
        for n in range(job_images):
            classify.apply_async(arguments(f"s3://{SOURCE}/job/{n:05d}.jpg"), queue=CLOUD, producer=producer)
    found["during_same_queue"] = _percentiles(interactive(photos, count, every_s))
    for leg in ("during_job", "during_same_queue"):
        found[f"{leg}_p95_over_alone"] = round(found[leg]["p95_ms"] / found["alone"]["p95_ms"], 2)
    return found


def run(objects: int, job_images: int, count: int) -> dict[str, Any]:
    from irs.aws.clients import client
    from irs.aws.provision import provision
    from irs.local.stack import Stack, start_emulator
    from irs.pools import CLOUD, served_by
    from irs.settings import get_settings
    from irs.worker.command import argv as worker_argv

    settings = get_settings()
    photos = sorted(Path(os.environ["IRS_DEMO_IMAGES"]).glob("*.jpg"))
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cpus",
                              "model": settings.model, "emulator": settings.emulator}
    stack = Stack(Path(tempfile.mkdtemp(prefix="irs-bench-jobs-")), say=say)
    try:
        start_emulator(stack, settings.endpoint_url or "", dict(os.environ))
        provision(settings, say=lambda _: None)
        client("s3").create_bucket(Bucket=SOURCE)
        result["enqueue"] = enqueue_leg(objects)
        stack.start("worker", worker_argv(served_by(CLOUD), 2, "cloud"), dict(os.environ))
        stack.wait_for("worker", "ready.")
        wait_for_reports({CLOUD})
        result["watch"] = watch_leg(photos, burst=20, rounds=3)
        result["interactive"] = interactive_leg(photos, job_images, count)
    finally:
        stack.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--objects", type=int, default=10_000, help="objects under the listed prefix")
    parser.add_argument("--job-images", type=int, default=600, help="photos in the job beside interactive requests")
    parser.add_argument("--interactive", type=int, default=40, help="interactive requests per leg")
    parser.add_argument("--emulator", choices=["localstack", "moto"], default="localstack",
                        help="the AWS emulator to run on (see above)")
    args = parser.parse_args()
    with private_environment(IRS_SOURCE_BUCKETS=f"{SOURCE}/", IRS_EMULATOR=args.emulator):
        result = run(args.objects, args.job_images, args.interactive)
    emit_result(result, args.json, "jobs")


if __name__ == "__main__":
    main()
