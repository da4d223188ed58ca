"""A flood on the local stack: a burst of N images at once, with the emulated edge on and off, side by side.

    python bench/flood.py [--json] [--images N] [--max-hosts H] [--boot-delay S] [--edge-floor-ms MS] [--no-sim]

Each live leg gets a fresh emulator, the autoscaler with its janitor (`irs autoscale --provider local`: it
launches the always-on host first, then what the burst needs, up to H one-process hosts) and, in the `edge`
leg, an emulated edge worker at MS per image. The N images (the sample photos, repeated) are submitted
through the router at once, as `irs classify` does; every one must be answered exactly once. Per leg: the
time to the last result, latency per request (p50, p95, max), where the router sent them, how many the
janitor moved between pools, and each process's peak RSS. A third leg sends a third of the burst to the
edge queue first, as the router did in the run that found work stranded there, and lets the janitor
move it. The flood simulation (irs.routing.flood) runs
the same decisions with and without moving, at the cloud's time per image the live cloud-only leg
measured.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack import (  # noqa: E402
    cpu_model,
    private_environment,
    process_tree,
    rss_mb,
    say,
    wait_for_reports,
)
from report import emit  # noqa: E402


class PeakRss:
    """Samples the resident memory of every process under the stack's children, by role, once a second."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots, self.peaks = roots, Counter[str]()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            for role, pid in self.roots.items():
                try:
                    for child in process_tree(pid):
                        name = role if child == pid else f"{role} children"
                        self.peaks[name] = max(self.peaks[name], round(rss_mb(child)))
                except (FileNotFoundError, ProcessLookupError):
                    continue

    def close(self) -> dict[str, int]:
        self.stop.set()
        self.thread.join()
        return dict(self.peaks)


def leg(name: str, images: int, edge: bool, max_hosts: int, boot_delay_s: float, edge_floor_ms: float,
        scratch: Path, edge_first: float = 0.0) -> dict[str, Any]:
    """One live leg; ``edge_first``: the share of the burst sent to the edge queue whatever the router would say,
    as the router did in the run that found the stranding (a third, before the cloud fleet grew)."""
    from irs.autoscale.providers.local import LocalProvider
    from irs.aws.provision import provision
    from irs.client import collect, submit_files
    from irs.local.stack import Stack, start_emulator
    from irs.settings import get_settings
    from irs.worker.command import argv as worker_argv

    settings = get_settings()
    photos = sorted(Path(os.environ["IRS_DEMO_IMAGES"]).glob("*.jpg"))
    home = scratch / name
    home.mkdir()
    stack = Stack(home / "logs", say=say)
    try:
        emulator = start_emulator(stack, settings.endpoint_url or "", dict(os.environ))
        assert emulator is not None, "the leg's emulator must be its own"
        provision(settings, say=lambda _: None)
        with contextlib.chdir(home):  # the local provider keeps its hosts under ./.irs
            autoscaler = stack.start("autoscaler", [sys.executable, "-m", "irs.cli", "autoscale", "--provider",
                                                    "local", "--max-instances", str(max_hosts),
                                                    "--boot-delay", str(boot_delay_s)],
                                     {**os.environ, "PYTHONUNBUFFERED": "1"})
        roots = {"emulator": emulator.pid, "autoscaler and its hosts": autoscaler.pid}
        if edge:
            roots["edge worker"] = stack.start("worker-edge", worker_argv(["edge"], 1, "edge"), {
                **os.environ, "IRS_INSTANCE_ID": "edge-emulated", "IRS_POOL_NAME": "edge",
                "IRS_MODEL": "yolo-fastest-1.1", "IRS_SERVICE_FLOOR_MS": str(edge_floor_ms)}).pid
        wait_for_reports({"cloud", "edge"} if edge else {"cloud"})
        peaks = PeakRss(roots)
        say(f"{name}: submitting {images} images through the router at once")
        begin = time.time()
        burst = [photos[n % len(photos)] for n in range(images)]
        first = round(images * edge_first)
        submitted = submit_files(burst[:first], queue="edge") if first else []
        submitted += submit_files(burst[first:])
        documents = list(collect(submitted, timeout=1800))
        rss = peaks.close()
        log = (home / "logs" / "autoscaler.log").read_text()
    finally:
        stack.stop()  # the autoscaler first, then the hosts it launched
        LocalProvider(home / ".irs").stop_all()
    assert len({d["task_id"] for d in documents}) == len(submitted) == images, "every image answered once"
    latencies = sorted(_epoch(d["finished_at"]) - _epoch(d["submitted_at"]) for d in documents)
    last = max(_epoch(d["finished_at"]) for d in documents) - begin
    routed = Counter((d.get("routing") or {}).get("pool", "?") for d in documents)
    served = Counter(d["pool"] for d in documents)
    moved = sum(int(n) for n in re.findall(r"moved (\d+) request", log))
    return {"leg": name, "images": images, "last_result_s": round(last, 1),
            "p50_s": round(statistics.median(latencies), 1),
            "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 1), "max_s": round(latencies[-1], 1),
            "routed": dict(routed), "served": dict(served), "moved": moved,
            "cloud_service_s": round(statistics.mean(_epoch(d["finished_at"]) - _epoch(d["started_at"])
                                                     for d in documents if d["pool"] == "cloud"), 3),
            "moves_seen_in_results": sum(1 for d in documents if (d.get("routing") or {}).get("pool") != d["pool"]),
            "hosts_launched": len(list((home / ".irs" / "logs").glob("*.log"))), "peak_rss_mb": rss,
            "max_hosts": max_hosts, "boot_delay_s": boot_delay_s, "edge_floor_ms": edge_floor_ms if edge else None,
            "date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cpus"}


def simulated(images: int, cloud_service_s: float, max_hosts: int, boot_delay_s: float, edge_floor_ms: float
              ) -> list[dict[str, Any]]:
    from irs.routing.flood import FloodParams, simulate_flood

    rows = []
    for name, edge, moving in (("sim: cloud alone", False, True), ("sim: edge, nothing moves", True, False),
                               ("sim: edge, rebalanced", True, True)):
        params = FloodParams(images=images, edge=edge, rebalance=moving, cloud_service_s=cloud_service_s,
                             cloud_slots=1, max_hosts=max_hosts, boot_s=boot_delay_s,
                             edge_service_s=edge_floor_ms / 1000)
        rows.append({"leg": name, **simulate_flood(params), "cloud_service_s": cloud_service_s})
    return rows


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--max-hosts", type=int, default=4, help="the autoscaler's cap (one process per host)")
    parser.add_argument("--boot-delay", type=float, default=10.0, help="seconds a local host takes to boot")
    parser.add_argument("--edge-floor-ms", type=float, default=1500.0)
    parser.add_argument("--no-sim", action="store_true", help="the live legs only")
    args = parser.parse_args()
    with private_environment() as scratch:
        rows = [leg(name, args.images, edge, args.max_hosts, args.boot_delay, args.edge_floor_ms, scratch,
                    edge_first) for name, edge, edge_first in (
            ("live: cloud alone", False, 0.0), ("live: edge on", True, 0.0),
            ("live: edge on, a third sent to the edge first", True, 1 / 3))]
    alone = rows[0]
    for row in rows[1:]:
        row["ratio_to_cloud_alone"] = round(row["last_result_s"] / alone["last_result_s"], 2)
    if not args.no_sim:  # at the cloud's time per image as the cloud-only leg lived it (start to finish)
        rows += simulated(args.images, alone["cloud_service_s"], args.max_hosts, args.boot_delay, args.edge_floor_ms)
    emit(rows, args.json, f"a flood of {args.images}, edge on and off")


if __name__ == "__main__":
    main()
