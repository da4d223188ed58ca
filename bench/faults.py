"""The fault table: what each injected fault did to a batch of images in flight; and the outage table: outages of
10, 20, 45 and 90 s with a batch in flight, of two kinds.

    python bench/faults.py [--json] [--images 100] [--table faults|outages|all]

One private emulator; the same rig as the fault tests (tests/faults/): a real
worker (two processes, each image padded to at least 200 ms so the batch is
still in flight when the fault hits) and the real ``irs classify``, both
talking to the emulator only through the fault-injecting proxy. For each
fault: images in flight, results the client reported, images with no result
document (lost), result documents beyond one per image (duplicates), the time
from the end of the fault (or the kill) to the client's last result, and worker
processes replaced. Counts are read from the emulator past the proxy. The
first row has no fault: its "time to recover" is what the batch takes anyway
after the same 10 s.

The outage table starts each outage once the whole batch is queued, with the default time limit (60 s: a task
rides out S3 trouble reading its image for 25 s, then Celery retries it): every connection refused (S3 and SQS
out of reach), or every S3 GET answered 500 (the workers cannot read their images, so the tasks outlast their
patience and Celery retries them). For each: images answered (a result document in S3), answered ok, lost,
duplicated, retries Celery sent, requests dead-lettered, and the time from the end of the outage to the
client's last answer.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.localstack import ROOT, configure_environment, cpu_model, free_port, say  # noqa: E402
from bench.report import emit  # noqa: E402

KILL_TASK_TIME_LIMIT_S = 20  # the kill rig's queues: a 50 s visibility timeout
OUTAGES_S = (10, 20, 45, 90)


def row(outcome: Any) -> dict[str, Any]:
    return {"fault": outcome.fault, "images in flight": outcome.in_flight, "results": outcome.reported,
            "lost": outcome.lost, "duplicates": outcome.duplicates, "failed": outcome.failed,
            "time to recover s": outcome.recover_s, "worker restarts": outcome.worker_restarts,
            "injected": sum(outcome.injected.values())}


def outage_row(outcome: Any, kind: str, seconds: float) -> dict[str, Any]:
    log = outcome.worker_log
    return {"outage": kind, "outage s": seconds, "images in flight": outcome.in_flight, "answered": outcome.results,
            "answered ok": outcome.results - outcome.failed, "lost": outcome.lost,
            "duplicated": outcome.duplicates, "retries sent": log.count("retry: Retry in"),
            "dead-lettered": log.count("dead-lettered a message"),
            "time to the last answer s": outcome.recover_s, "client exit": outcome.client_exit}


def faults(rig: Any, killed: Any) -> list[dict[str, Any]]:
    from tests.faults import scenario
    from tests.faults.proxy import Fault

    rows = []
    for fault, share in ((None, 0.0), (Fault.S3_500, 0.2), (Fault.S3_SLOWDOWN, 0.2),
                         (Fault.SQS_THROTTLE, 0.3), (Fault.RESET, 0.1), (Fault.LATENCY, 0.1)):
        say(f"fault: {fault.value if fault else 'none (the baseline)'}, {share:.0%} of requests for 10 s")
        rows.append(row(scenario.run(rig, fault, share=share, window_s=10)))
    say("fault: every connection refused for 30 s")
    rows.append(row(scenario.run(rig, None, refuse_s=30)))
    victim = killed()
    for draining in (False, True):
        say(f"fault: SIGKILL of the whole worker{' while it drains' if draining else ''}")
        rows.append(row(scenario.kill_worker(victim, draining)))
    return rows


def outages(rig: Any) -> list[dict[str, Any]]:
    from tests.faults import scenario
    from tests.faults.proxy import Fault

    rows = []
    for seconds in OUTAGES_S:
        say(f"outage: S3 and SQS out of reach for {seconds} s, the batch in flight")
        rows.append(outage_row(scenario.run(rig, None, refuse_s=seconds), "S3 and SQS refused", seconds))
    for seconds in OUTAGES_S:
        say(f"outage: every S3 GET answered 500 for {seconds} s, the batch in flight")
        rows.append(outage_row(scenario.run(rig, Fault.S3_READ_500, share=1.0, window_s=seconds,
                                            in_flight_first=True), "S3 reads fail (500)", seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--table", choices=("faults", "outages", "all"), default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="irs-bench-faults-") as scratch:
        port = free_port()
        configure_environment(port, Path(scratch))
        from irs.local.stack import Stack, start_emulator
        from tests.faults import scenario

        stack = Stack(Path(scratch), say=say)
        rigs: list[Any] = []

        def rig_for(name: str, env: dict[str, str] | None = None) -> Any:
            rigs.append(scenario.Rig(port, Path(scratch) / name, photos, args.images, env=env))
            return rigs[-1]

        try:
            start_emulator(stack, os.environ["IRS_ENDPOINT_URL"], dict(os.environ))
            photos = sorted((ROOT.parent / "shared" / "images").glob("*.jpg"))
            rows, outage_rows = [], []
            if args.table in ("faults", "all"):
                rows = faults(rig_for("faults"),
                              lambda: rig_for("killed", {"IRS_TASK_TIME_LIMIT": str(KILL_TASK_TIME_LIMIT_S)}))
            if args.table in ("outages", "all"):
                outage_rows = outages(rig_for("outages"))
        finally:
            for each in rigs:
                each.close()
            stack.stop()
    machine = {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cpus"}
    for each in rows + outage_rows:
        each.update(machine)
    emit(rows + outage_rows, args.json, "faults and outages, with a batch in flight")


if __name__ == "__main__":
    main()
