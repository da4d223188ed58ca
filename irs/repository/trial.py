"""A candidate model's trial run, in a process of its own: ``python -m irs.repository.trial`` (used by
:mod:`irs.repository.check`).

The candidate is converted and run the way a worker will run it (ONNX Runtime, one thread): once to warm
up, then ``RUNS`` times to time it. What it measured, or why it could not run, is printed as one JSON line;
the parent bounds the process's memory and time, so a model too big for the hosts costs this process
alone, never the caller.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

RUNS = 3


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def trial(kind: str, cfg: Path, weights: Path, names: str, side: int) -> dict[str, object]:
    import numpy as np

    from irs.inference.darknet import Unsupported
    from irs.inference.registry import ModelFile, ModelSpec
    from irs.inference.runtimes import OnnxRuntime

    baseline = _rss_mb()  # the interpreter and the libraries, before the network
    with tempfile.TemporaryDirectory() as work:  # the files linked under their own names, so errors name them
        folder = Path(work)
        cfg_name, weights_name = (cfg.name, weights.name) if cfg.name != weights.name else ("a.cfg", "a.weights")
        (folder / cfg_name).symlink_to(cfg.resolve())
        (folder / weights_name).symlink_to(weights.resolve())
        spec = ModelSpec("candidate", kind, ModelFile(cfg_name, "", 0, None),  # type: ignore[arg-type]
                         ModelFile(weights_name, "", 0, None), ModelFile(names, "", 0, None), input_size=side)
        try:
            runtime = OnnxRuntime(spec, folder, threads=1, cache=folder / "cache")
            pixels = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
            output = runtime.forward(pixels)
            times = []
            for _ in range(RUNS):
                begin = time.perf_counter()
                runtime.forward(pixels)
                times.append((time.perf_counter() - begin) * 1000)
        except Unsupported as error:
            return {"refused": f"{cfg.name} and {weights.name} do not make a model IRS can run: {error}"}
        except (RuntimeError, ValueError, MemoryError) as error:
            return {"refused": f"the model does not load or run: {str(error)[:500]}"}
    classes = output.shape[1] - 5 if kind == "detector" else output.size
    return {"classes": int(classes), "ms_per_image": round(statistics.median(times), 2),
            "network_mb": round(_peak_mb() - baseline, 1), "peak_mb": round(_peak_mb(), 1)}  # the network at its peak


def main() -> None:
    kind, cfg, weights, names, side = sys.argv[1:6]
    print(json.dumps(trial(kind, Path(cfg), Path(weights), names, int(side))), flush=True)


if __name__ == "__main__":
    main()
