"""Routing policies between an edge device and the cloud, simulated with the router's own decision.

    python bench/split.py [--json]

One row per world (camera, web), arrival pattern (poisson, bursts), load (offered load over the
edge device's capacity) and policy. The parameters and their sources are in
irs/routing/simulate.py (Params) and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import emit  # noqa: E402

from irs.routing.simulate import POLICIES, Params, simulate  # noqa: E402

LOADS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# The edge's time per image is estimated, not measured on a Pi (there is none here): 0.25 s is the
# Pi 4 estimate in BENCHMARKS.md ("Pi service time"), 1.5 s a slower device and the local stack's
# emulated edge.
EDGES = (Params(edge_service_s=1.5), Params(edge_service_s=0.25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    args = parser.parse_args()
    rows = [simulate(world, policy, load, pattern, params=params)
            for params in EDGES for world in ("camera", "web") for pattern in ("poisson", "bursts")
            for load in LOADS for policy in POLICIES]
    emit(rows, args.json, "routing policies, simulated")


if __name__ == "__main__":
    main()
