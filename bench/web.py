"""The web tier against the `irs classify` path, side by side on one private local stack.

    python bench/web.py [--json] [--quick]

Legs:
  latency     one image at a time on the idle stack, alternating between the two paths, from the
              start of the upload until the client holds the result document:
                classify  the client library `irs classify` uses: S3 PUT, SQS send, wait on S3
                web       POST /api/v1/images, then GET /api/v1/results/{id}?wait=30 (pushed)
  throughput  N concurrent clients POSTing one image each, over and over, for a fixed time per
              level, with no backlog limit: accepted uploads per second, upload latency, and the CPU
              each process used, to show where it saturates and what saturates first
  shedding    the top level again against a server whose backlog limit is low: how much it
              refuses (503 with Retry-After) once the queue is over its limit

The JSON goes to stdout with --json (a list of rows); a table otherwise; progress to stderr.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack import (  # noqa: E402
    aws_requests,
    cpu_model,
    cpu_seconds,
    free_port,
    private_environment,
    process_tree,
    say,
)
from report import emit  # noqa: E402

NO_LIMIT = 10**9
SHED_LIMIT = 150  # the web server's IRS_WEB_MAX_BACKLOG in the shedding leg


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def latency_leg(image: Path, count: int, web_url: str, endpoint: str) -> list[dict[str, Any]]:
    """Both paths, alternating. AWS requests are counted at the emulator from the upload until 0.3 s
    after the result: every process's, so the workers' and the web tier's background reads (fleet
    reports, the status sampler) are in both paths' counts alike."""
    import httpx

    from irs.client import collect, upload_and_submit

    data = image.read_bytes()
    times: dict[str, list[float]] = {"classify": [], "web": []}
    requests: dict[str, list[int]] = {"classify": [], "web": []}
    with httpx.Client(base_url=web_url, timeout=60) as client:
        for n in range(count + 2):  # the first round of each warms connections and is not counted
            for path in ("classify", "web") if n % 2 else ("web", "classify"):
                time.sleep(0.05)  # idle between requests
                aws_requests(endpoint, reset=True)
                begin = time.perf_counter()
                if path == "classify":
                    (document,) = collect([upload_and_submit(image, f"uploads/bench-web/{n}/")], 60)
                else:
                    posted = client.post("/api/v1/images", files=[("files", (image.name, data, "image/jpeg"))])
                    request = posted.json()["requests"][0]
                    document = client.get(request["result_url"], params={"wait": 30}).json()
                assert document["status"] == "ok", document
                if n >= 2:
                    times[path].append((time.perf_counter() - begin) * 1000)
                    time.sleep(0.3)  # let the worker's acknowledgement land inside this request's count
                    requests[path].append(sum(aws_requests(endpoint).values()))
    rows = [{"leg": "latency", "path": path, "images": len(ms), "p50_ms": round(statistics.median(ms), 1),
             "p95_ms": round(_percentile(ms, 0.95), 1),
             "aws_requests_per_image": round(statistics.mean(requests[path]), 2)} for path, ms in times.items()]
    rows.append({"leg": "latency", "path": "web - classify", "images": count,
                 "p50_ms": round(rows[1]["p50_ms"] - rows[0]["p50_ms"], 1),
                 "p95_ms": round(rows[1]["p95_ms"] - rows[0]["p95_ms"], 1)})
    return rows


@dataclass
class Tally:
    """What the clients of one level saw."""

    codes: dict[int, int] = field(default_factory=dict)
    upload_ms: list[float] = field(default_factory=list)  # of accepted uploads
    retry_after: list[int] = field(default_factory=list)  # of refused ones
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(web_url: str, image: Path, tally: Tally, stop: threading.Event) -> None:
    """One client: upload the image again and again until told to stop."""
    import httpx

    data = image.read_bytes()
    with httpx.Client(base_url=web_url, timeout=60) as client:
        while not stop.is_set():
            begin = time.perf_counter()
            response = client.post("/api/v1/images", files=[("files", (image.name, data, "image/jpeg"))])
            with tally.lock:
                tally.codes[response.status_code] = tally.codes.get(response.status_code, 0) + 1
                if response.status_code == 202:
                    tally.upload_ms.append((time.perf_counter() - begin) * 1000)
                elif response.status_code == 503:
                    tally.retry_after.append(int(response.headers["Retry-After"]))


def throughput_leg(name: str, image: Path, levels: list[int], seconds: float, web_url: str,
                   pids: dict[str, int], endpoint: str) -> list[dict[str, Any]]:
    from irs.aws.clients import client
    from irs.settings import get_settings

    sqs = client("sqs")
    queue_url = sqs.get_queue_url(QueueName=f"{get_settings().queue_prefix}cloud")["QueueUrl"]
    rows = []
    for clients in levels:
        _drain(sqs, queue_url)  # each level starts from an empty queue
        time.sleep(2.5)  # that the server has sampled
        tally = Tally()
        stop = threading.Event()

        cpu0 = {name: cpu_seconds(process_tree(pid)) for name, pid in pids.items()}
        client_cpu0 = time.process_time()
        aws_requests(endpoint, reset=True)
        threads = [threading.Thread(target=_client, args=(web_url, image, tally, stop), daemon=True)
                   for _ in range(clients)]
        begin = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(60)
        wall = time.perf_counter() - begin
        cpu = {name: (cpu_seconds(process_tree(pid)) - cpu0[name]) / wall for name, pid in pids.items()}
        cpu["clients"] = (time.process_time() - client_cpu0) / wall
        requests = sum(aws_requests(endpoint).values())
        codes, upload_ms, retry_after = tally.codes, tally.upload_ms, tally.retry_after
        accepted = codes.get(202, 0)
        rows.append({"leg": name, "clients": clients, "accepted_per_s": round(accepted / wall, 1),
                     "refused_503_per_s": round(codes.get(503, 0) / wall, 1),
                     "other_statuses": {str(k): v for k, v in codes.items() if k not in (202, 503)},
                     "upload_p50_ms": round(statistics.median(upload_ms), 1) if upload_ms else None,
                     "upload_p95_ms": round(_percentile(upload_ms, 0.95), 1) if upload_ms else None,
                     "cpu_cores": {name: round(value, 2) for name, value in cpu.items()},
                     "aws_requests_per_s": round(requests / wall, 1),
                     "retry_after_s": sorted(set(retry_after))[:5]})
        say(f"  {clients} clients: {rows[-1]['accepted_per_s']} accepted/s, "
            f"{rows[-1]['refused_503_per_s']} refused/s, cpu {rows[-1]['cpu_cores']}")
    return rows


def _drain(sqs: Any, queue_url: str) -> None:
    """Take what the last level left waiting off the queue (PurgeQueue is allowed once a minute)."""
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=60).get("Messages", [])
        if not messages:
            return
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])


def run(quick: bool) -> list[dict[str, Any]]:
    from irs.local.stack import Stack, start_emulator
    from irs.pools import CLOUD, served_by
    from irs.settings import get_settings
    from irs.worker.command import argv as worker_argv

    settings = get_settings()
    image = Path(os.environ["IRS_DEMO_IMAGES"]) / "dog.jpg"
    count, levels, seconds = (15, [1, 4, 16], 5.0) if quick else (60, [1, 2, 4, 8, 16, 32], 10.0)
    stack = Stack(Path(tempfile.mkdtemp(prefix="irs-bench-web-")), say=say)
    rows: list[dict[str, Any]] = []
    try:
        endpoint = settings.endpoint_url or ""
        start_emulator(stack, endpoint, dict(os.environ))
        from irs.aws.provision import provision

        provision(settings, say=lambda _: None)
        worker = stack.start("worker", worker_argv(served_by(CLOUD), 2, "cloud"), dict(os.environ))
        stack.wait_for("worker", "ready.")
        emulator = stack.pid("emulator")

        def web_server(name: str, limit: int) -> tuple[str, int]:
            port = free_port()
            web = stack.start(name, [sys.executable, "-m", "irs.cli", "web", "--port", str(port)],
                              {**os.environ, "IRS_WEB_MAX_BACKLOG": str(limit)})
            stack.wait_for(name, "Application startup complete")
            return f"http://127.0.0.1:{port}", web.pid

        web_url, web_pid = web_server("web", NO_LIMIT)
        say(f"latency: {count} single images per path, alternating, on the idle stack")
        rows += latency_leg(image, count, web_url, endpoint)
        say(f"throughput: {levels} concurrent clients, {seconds:.0f} s each, no backlog limit")
        pids = {"web": web_pid, "emulator": emulator, "worker": worker.pid}
        rows += throughput_leg("throughput", image, levels, seconds, web_url, pids, endpoint)
        stack.stop("web")
        say(f"shedding: {levels[-1]} clients for {2 * seconds:.0f} s, backlog limit {SHED_LIMIT}")
        web_url, pids["web"] = web_server("web-shedding", SHED_LIMIT)
        rows += throughput_leg("shedding", image, levels[-1:], 2 * seconds, web_url, pids, endpoint)
    finally:
        stack.stop()
    machine = f"{cpu_model()}, {os.cpu_count()} cpus"
    for row in rows:
        row.update({"date": time.strftime("%Y-%m-%d"), "machine": machine})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--quick", action="store_true", help="fewer images and levels: about a minute")
    args = parser.parse_args()
    with private_environment():
        rows = run(args.quick)
    emit(rows, args.json, "the web tier against irs classify")


if __name__ == "__main__":
    main()
