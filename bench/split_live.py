"""The router live on a private local stack: a cloud worker and an emulated edge worker share a burst.

    python bench/split_live.py [--json] [--images N] [--waves K] [--gap S] [--edge-floor-ms MS]

The edge worker runs the edge model with a service-time floor (labelled `emulated` in its
documents), standing for a Raspberry Pi. N images (the sample photos, repeated) are submitted through
the router, as `irs classify` does, at once or in K waves S seconds apart (time for the router to
learn the edge's speed from its reports); every one must be answered exactly once. One row
per pool: its share of the images, and latency from submission to result.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack import cpu_model, private_environment, say  # noqa: E402
from report import emit  # noqa: E402


def run(images: int, edge_floor_ms: float, waves: int, gap_s: float) -> list[dict[str, Any]]:
    from irs.aws.provision import provision
    from irs.client import collect, submit_files
    from irs.local.stack import Stack, start_emulator
    from irs.pools import CLOUD, served_by
    from irs.settings import get_settings
    from irs.worker.command import argv as worker_argv

    settings = get_settings()
    photos = sorted(Path(os.environ["IRS_DEMO_IMAGES"]).glob("*.jpg"))
    stack = Stack(Path(tempfile.mkdtemp(prefix="irs-bench-split-")), say=say)
    try:
        start_emulator(stack, settings.endpoint_url or "", dict(os.environ))
        provision(settings, say=lambda _: None)
        stack.start("worker-cloud", worker_argv(served_by(CLOUD), 2, "cloud"),
                    {**os.environ, "IRS_INSTANCE_ID": "cloud-1"})
        stack.start("worker-edge", worker_argv(["edge"], 1, "edge"), {
            **os.environ, "IRS_INSTANCE_ID": "edge-emulated", "IRS_POOL_NAME": "edge",
            "IRS_MODEL": "yolo-fastest-1.1", "IRS_SERVICE_FLOOR_MS": str(edge_floor_ms)})
        stack.wait_for("worker-cloud", "ready.")
        stack.wait_for("worker-edge", "ready.")
        time.sleep(6)  # both workers' first fleet reports are in
        say(f"submitting {images} images through the router, in {waves} wave(s) {gap_s:.0f} s apart")
        begin = time.time()
        submitted = []
        for wave in range(waves):
            if wave:
                time.sleep(gap_s)
            submitted += submit_files([photos[n % len(photos)] for n in range(images // waves)])
        documents = list(collect(submitted, timeout=600))
        wall = time.time() - begin
    finally:
        stack.stop()
    assert len({d["task_id"] for d in documents}) == len(submitted), "every image answered once"
    images = len(submitted)
    by_pool: dict[str, list[float]] = defaultdict(list)
    reasons: dict[str, str] = {}
    for document in documents:
        finished = _epoch(document["finished_at"])
        by_pool[document["pool"]].append(finished - _epoch(document["submitted_at"]))
        reasons.setdefault(document["pool"], (document.get("routing") or {}).get("reason", ""))
    return [{"pool": pool, "images": len(seconds), "share": round(len(seconds) / images, 3),
             "p50_s": round(statistics.median(seconds), 2),
             "p95_s": round(sorted(seconds)[int(0.95 * (len(seconds) - 1))], 2),
             "example_reason": reasons[pool], "edge_floor_ms": edge_floor_ms, "waves": waves,
             "wall_s": round(wall, 1),
             "date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cpus"}
            for pool, seconds in sorted(by_pool.items())]


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--images", type=int, default=210)
    parser.add_argument("--waves", type=int, default=1)
    parser.add_argument("--gap", type=float, default=5.0, help="seconds between waves")
    parser.add_argument("--edge-floor-ms", type=float, default=1500.0)
    args = parser.parse_args()
    with private_environment():
        rows = run(args.images, args.edge_floor_ms, args.waves, args.gap)
    emit(rows, args.json, "edge and cloud, live")


if __name__ == "__main__":
    main()
