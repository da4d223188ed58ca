"""The fault table: what each injected fault did to a batch of images in flight.

    python bench/faults.py [--json] [--images 100]

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


def row(outcome: Any) -> dict[str, Any]:
    return {"fault": outcome.fault, "images in flight": outcome.in_flight, "results": outcome.reported,
            "lost": outcome.lost, "duplicates": outcome.duplicates, "failed": outcome.failed,
            "time to recover s": outcome.recover_s, "worker restarts": outcome.worker_restarts,
            "injected": sum(outcome.injected.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="irs-bench-faults-") as scratch:
        port = free_port()
        configure_environment(port, Path(scratch))
        from irs.local.stack import Stack, start_emulator
        from tests.faults import scenario
        from tests.faults.proxy import Fault

        stack = Stack(Path(scratch), say=say)
        rigs: list[Any] = []
        try:
            start_emulator(stack, os.environ["IRS_ENDPOINT_URL"], dict(os.environ))
            photos = sorted((ROOT.parent / "shared" / "images").glob("*.jpg"))
            rig = scenario.Rig(port, Path(scratch) / "faults", photos, args.images)
            rigs.append(rig)
            rows = []
            for fault, share in ((None, 0.0), (Fault.S3_500, 0.2), (Fault.S3_SLOWDOWN, 0.2),
                                 (Fault.SQS_THROTTLE, 0.3), (Fault.RESET, 0.1), (Fault.LATENCY, 0.1)):
                say(f"fault: {fault.value if fault else 'none (the baseline)'}, {share:.0%} of requests for 10 s")
                rows.append(row(scenario.run(rig, fault, share=share, window_s=10)))
            say("fault: every connection refused for 30 s")
            rows.append(row(scenario.run(rig, None, refuse_s=30)))
            killed = scenario.Rig(port, Path(scratch) / "killed", photos, args.images,
                                  env={"IRS_TASK_TIME_LIMIT": str(KILL_TASK_TIME_LIMIT_S)})
            rigs.append(killed)
            for draining in (False, True):
                say(f"fault: SIGKILL of the whole worker{' while it drains' if draining else ''}")
                rows.append(row(scenario.kill_worker(killed, draining)))
        finally:
            for each in rigs:
                each.close()
            stack.stop()
    for each in rows:
        each.update({"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cpus"})
    emit(rows, args.json, "faults, with a batch in flight")


if __name__ == "__main__":
    main()
