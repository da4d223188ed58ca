"""What monitoring costs: idle end-to-end latency and AWS requests per image, with it off and on.

    python bench/monitoring.py [--json] [--images N]

Four legs in one run, off, on, off, on, each on a fresh private stack (the emulator and one
`celery worker -c 2`). With monitoring on, the worker and the client send task events and a
`celery events` receiver listens, as Flower would. In each leg one client sends N images one at a
time with a pause between them, and times each from the start of its upload until it holds the
result. AWS requests are counted at the emulator over the client's run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack import aws_requests, cpu_model, free_port, private_environment, say  # noqa: E402
from report import emit  # noqa: E402

CLIENT = """
import json, sys, time
from pathlib import Path
from irs.client import collect, upload_and_submit
image, count = Path(sys.argv[1]), int(sys.argv[2])
times = []
for n in range(count + 3):
    time.sleep(0.1)
    begin = time.perf_counter()
    (document,) = collect([upload_and_submit(image, f"uploads/bench-monitoring/{n}/")], 60)
    assert document["status"] == "ok"
    if n >= 3:  # the first ones warm connections
        times.append((time.perf_counter() - begin) * 1000)
print(json.dumps(times))
"""


def leg(monitoring: bool, image: Path, count: int) -> dict[str, Any]:
    from irs.local.stack import Stack, start_emulator
    from irs.pools import CLOUD, served_by
    from irs.worker.command import argv as worker_argv

    port = free_port()
    env = {**os.environ, "IRS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "IRS_MONITORING": "true" if monitoring else "false", "IRS_QUEUE_PREFIX": f"irs-bench-{port}-"}
    stack = Stack(Path(tempfile.mkdtemp(prefix="irs-bench-monitoring-")), say=say)
    try:
        start_emulator(stack, env["IRS_ENDPOINT_URL"], env)
        subprocess.run([sys.executable, "-m", "irs.cli", "provision"], env=env, check=True, capture_output=True)
        stack.start("worker", worker_argv(served_by(CLOUD), 2, "cloud"), env)
        stack.wait_for("worker", "ready.")
        if monitoring:
            stack.start("events", [sys.executable, "-m", "celery", "-A", "irs", "events", "--dump"], env)
            stack.wait_for("events", "starting capture")
            time.sleep(3)  # subscribed
        aws_requests(env["IRS_ENDPOINT_URL"], reset=True)
        begin = time.time()
        run = subprocess.run([sys.executable, "-c", CLIENT, str(image), str(count)], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True)
        seconds = time.time() - begin
        requests = aws_requests(env["IRS_ENDPOINT_URL"])
    finally:
        stack.stop()
    times = sorted(json.loads(run.stdout.strip().splitlines()[-1]))
    total = count + 3
    return {"monitoring": monitoring, "images": count, "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "aws_requests_per_image": round(sum(requests.values()) / total, 2),
            "by_operation_per_image": {k: round(v / total, 2) for k, v in sorted(requests.items())},
            "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()
    with private_environment():
        image = Path(os.environ["IRS_DEMO_IMAGES"]) / "dog.jpg"
        rows = []
        for monitoring in (False, True, False, True):
            say(f"leg: monitoring {'on' if monitoring else 'off'}, {args.images} images")
            rows.append(leg(monitoring, image, args.images))
    off = [r for r in rows if not r["monitoring"]]
    on = [r for r in rows if r["monitoring"]]
    summary = {"monitoring": "on / off", "images": sum(r["images"] for r in rows),
               "p50_ms": round(statistics.mean(r["p50_ms"] for r in on) / statistics.mean(r["p50_ms"] for r in off), 3),
               "p95_ms": round(statistics.mean(r["p95_ms"] for r in on) / statistics.mean(r["p95_ms"] for r in off), 3),
               "aws_requests_per_image": round(statistics.mean(r["aws_requests_per_image"] for r in on)
                                               - statistics.mean(r["aws_requests_per_image"] for r in off), 2)}
    for row in [*rows, summary]:
        row.update({"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cpus"})
    emit([*rows, summary], args.json, "monitoring off and on")


if __name__ == "__main__":
    main()
