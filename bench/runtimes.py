"""The model alone in a tight loop, on each runtime IRS has, side by side in one run: the reference point.

    python bench/runtimes.py [--json] [--model NAME] [--rounds N]

Each runtime gets the same pre-made input blob of the first sample photo and
the same weights (ONNX Runtime on the graph IRS converts in process), at 1 and
2 threads, interleaved round by round so a noisy neighbour hits every leg
alike. Reports the median milliseconds per image and each runtime's speed-up
over OpenCV. Needs the shared models (IRS_MODEL_DIR) and photos.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack import cpu_model  # noqa: E402
from report import emit  # noqa: E402

RUNTIMES = ("opencv", "onnxruntime")


def cpu_flags() -> str:
    """What matters to these runtimes: the vector extensions this CPU has."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return " ".join(sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c"))))
    return ""


def main() -> None:
    import cv2

    from irs.settings import get_settings
    from irs.worker.models import resolve
    from irs.worker.runtimes import OnnxRuntime, OpenCvRuntime, Runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", default="yolo-fastest-1.1-xl")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of 10 images per leg")
    args = parser.parse_args()
    settings = get_settings()
    spec, directory = resolve(args.model, settings)
    photo = sorted(Path(os.environ.get("IRS_DEMO_IMAGES", ROOT.parent / "shared" / "images")).glob("*.jpg"))[0]
    side = spec.input_size
    blob = cv2.dnn.blobFromImage(cv2.imread(str(photo)), 1 / 255.0, (side, side), swapRB=True, crop=False)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as cache:
        for threads in (1, 2):
            legs: dict[str, Runtime] = {
                "opencv": OpenCvRuntime(spec, directory, threads),
                "onnxruntime": OnnxRuntime(spec, directory, threads, Path(cache))}
            times: dict[str, list[float]] = {name: [] for name in legs}
            for runtime in legs.values():
                for _ in range(5):
                    runtime.forward(blob)  # warm up
            for _ in range(args.rounds):
                for name, runtime in legs.items():
                    cv2.setNumThreads(threads)
                    start = time.perf_counter()
                    for _ in range(10):
                        runtime.forward(blob)
                    times[name].append((time.perf_counter() - start) / 10 * 1000)
            opencv = statistics.median(times["opencv"])
            for name in RUNTIMES:
                median = statistics.median(times[name])
                rows.append({"model": args.model, "input": side, "runtime": name, "threads": threads,
                             "ms_per_image_p50": round(median, 2), "speedup_over_opencv": round(opencv / median, 2)})
    print(f"{cpu_model()}; {cpu_flags()}", file=sys.stderr)
    emit(rows, args.json, f"{args.model} at {side}, the model alone")


if __name__ == "__main__":
    main()
