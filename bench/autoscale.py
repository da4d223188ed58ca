"""Every scaling policy on every trace, on the same simulated fleet.

    python bench/autoscale.py [--json] [--plots DIR]

Prints one row per policy and trace (JSON with --json, a table otherwise) and
draws a timeline PNG per trace (IRS against AWS target tracking and the seed's
controller) into DIR, docs/autoscale by default.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import emit  # noqa: E402

from irs.autoscale.policy import Config  # noqa: E402
from irs.autoscale.sim.baselines import all_policies  # noqa: E402
from irs.autoscale.sim.simulate import simulate, traces  # noqa: E402
from irs.autoscale.sim.timeline import draw  # noqa: E402

PICTURED = ("irs", "aws_target_tracking", "seed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--plots", type=Path, default=ROOT / "docs" / "autoscale", help="where the PNGs go")
    args = parser.parse_args()
    cfg = Config()
    rows = []
    for trace in traces():
        results = [simulate(trace, policy, cfg) for policy in all_policies(cfg)]
        rows.extend(result.row() for result in results)
        draw([r for r in results if r.policy in PICTURED], args.plots / f"{trace.name}.png",
             f"trace {trace.name}: {len(trace.arrivals)} images")
    emit(rows, args.json, "autoscaling policies, simulated")


if __name__ == "__main__":
    main()
