"""The simulator runs the real policy against a fleet with boot delay, service time and the 20 cap."""

from __future__ import annotations

import numpy as np

from irs.autoscale.policy import Config
from irs.autoscale.sim.baselines import AwsTargetTracking, Irs, Seed, Static, all_policies
from irs.autoscale.sim.simulate import Trace, simulate, traces

CFG = Config()


def test_every_policy_answers_every_image_of_every_trace_and_never_exceeds_20() -> None:
    for trace in traces():
        for policy in all_policies(CFG):
            result = simulate(trace, policy, CFG)
            assert result.lost == 0, (policy.name, trace.name)
            assert result.peak_instances <= 20
            assert max(np.add(result.timeline["pending"], result.timeline["running"])) <= 20


def test_the_irs_policy_never_kills_a_busy_worker() -> None:
    for trace in traces():
        assert simulate(trace, Irs(CFG), CFG).busy_killed == 0


def test_a_policy_that_terminates_without_draining_kills_busy_workers_and_they_are_redelivered() -> None:
    result = simulate(next(t for t in traces() if t.name == "diurnal"), AwsTargetTracking(CFG), CFG)
    assert result.busy_killed > 0 and result.lost == 0


def test_boot_delay_is_paid_before_new_instances_take_work() -> None:
    burst = Trace("b", np.full(20_000, 1.0), 400)
    result = simulate(burst, Seed(CFG), CFG)
    running = result.timeline["running"]
    assert running[30] == 1 and running[int(CFG.boot_s) + 10] > 1


def test_a_static_fleet_costs_its_size_times_the_horizon() -> None:
    result = simulate(Trace("quiet", np.array([5.0]), 100), Static(3), CFG)
    assert result.instance_seconds == 300 and result.scale_actions == 0


def test_the_trace_names_are_the_documented_ones() -> None:
    assert {"burst", "step", "diurnal", "poisson_bursts"} <= {t.name for t in traces()}


def test_irs_autoscale_simulate_prints_rows_and_draws_the_timeline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import subprocess
    import sys

    plot = tmp_path / "step.png"
    run = subprocess.run([sys.executable, "-m", "irs.cli", "autoscale", "simulate", "--trace", "burst", "--json",
                          "--plot", str(plot)], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["policy"] for r in rows] == ["irs", "aws_target_tracking", "seed"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
