"""The picture of a simulated run: queue, fleet and latency over time, one policy per line."""

from __future__ import annotations

from pathlib import Path

from irs.autoscale.sim.simulate import Result


def draw(results: list[Result], path: Path, title: str) -> Path:
    """Write a PNG with three stacked panels sharing the time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (queue, fleet, latency) = plt.subplots(3, 1, figsize=(11, 8.5), sharex=True)
    for result in results:
        t = result.timeline["t"]
        (line,) = queue.plot(t, result.timeline["waiting"], label=result.policy, linewidth=1.2)
        colour = line.get_color()
        fleet.plot(t, [p + r for p, r in zip(result.timeline["pending"], result.timeline["running"], strict=True)],
                   color=colour, linewidth=1.2, label=f"{result.policy}: pending + running")
        fleet.plot(t, result.timeline["running"], color=colour, linewidth=0.8, linestyle=":")
        latency.plot(t, result.timeline["p95"], color=colour, linewidth=1.0)
    queue.set_ylabel("images waiting")
    queue.legend(loc="upper right", fontsize=8)
    fleet.set_ylabel("instances\n(solid: all, dotted: running)")
    fleet.set_ylim(bottom=0)
    latency.set_ylabel("latency p95 over 10 s (s)")
    latency.set_xlabel("time (s)")
    for axis in (queue, fleet, latency):
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
