"""The model alone in a tight loop, on each runtime IRS has, side by side in one run: the reference point.

    python bench/runtimes.py [--json] [--model NAME] [--rounds N]

Each runtime gets the same pre-made input blob of the first sample photo and
the same weights (ONNX Runtime and OpenVINO on the graph IRS converts in
process; OpenVINO also at bf16), at 1 and 2 threads, interleaved round by round
so a noisy neighbour hits every leg alike. Reports the median milliseconds per
image and each runtime's speed-up over OpenCV. Then two questions the runtime
choice rests on:
  batch      ONNX Runtime on batches of 1, 2, 4 and 8 images: does a batch
             cost less per image than one image at a time (micro-batching)?
  bf16       what bf16 changes on every sample photo: the largest difference
             of the raw outputs from f32, and whether the labels stay the same.
Needs the shared models (IRS_MODEL_DIR) and photos.
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

RUNTIMES = ("opencv", "onnxruntime", "openvino", "openvino-bf16")
BATCHES = (1, 2, 4, 8)
IMAGES = Path(os.environ.get("IRS_DEMO_IMAGES", ROOT.parent / "shared" / "images"))


def cpu_flags() -> str:
    """What matters to these runtimes: the vector extensions this CPU has."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return " ".join(sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c"))))
    return ""


def main() -> None:
    os.environ.setdefault("IRS_MODEL_DIR", str(ROOT.parent / "shared" / "models"))  # before settings are read
    import cv2

    from irs.inference.registry import resolve
    from irs.inference.runtimes import OnnxRuntime, OpenCvRuntime, OpenVinoRuntime, Runtime
    from irs.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", default="yolo-fastest-1.1-xl")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of 10 images per leg")
    args = parser.parse_args()
    settings = get_settings()
    spec, directory = resolve(args.model, settings)
    photo = sorted(IMAGES.glob("*.jpg"))[0]
    side = spec.input_size
    blob = cv2.dnn.blobFromImage(cv2.imread(str(photo)), 1 / 255.0, (side, side), swapRB=True, crop=False)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as cache:
        for threads in (1, 2):
            at = settings.model_copy(update={"cv_threads": threads, "cache_dir": Path(cache)})
            legs: dict[str, Runtime] = {
                "opencv": OpenCvRuntime(spec, directory, threads),
                "onnxruntime": OnnxRuntime(spec, directory, threads, Path(cache) / "onnx"),
                "openvino": OpenVinoRuntime(spec, directory, at, side),
                "openvino-bf16": OpenVinoRuntime(spec, directory, at.model_copy(update={"precision": "bf16"}), side)}
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
                             "precision": legs[name].precision, "ms_per_image_p50": round(median, 2),
                             "speedup_over_opencv": round(opencv / median, 2)})
        rows += batches(spec, directory, Path(cache), blob, args.rounds)
        rows.append(bf16_changes(spec, directory, settings.model_copy(update={"cache_dir": Path(cache)})))
    print(f"{cpu_model()}; {cpu_flags()}", file=sys.stderr)
    emit(rows, args.json, f"{args.model} at {side}, the model alone")


def batches(spec: Any, directory: Path, cache: Path, blob: Any, rounds: int) -> list[dict[str, Any]]:
    """ONNX Runtime's time per image when images come in batches, at 1 thread (as each of a worker's processes
    would run them) and 2; interleaved like the legs above."""
    import numpy as np

    from irs.inference.runtimes import OnnxRuntime

    rows = []
    for threads in (1, 2):
        runtime = OnnxRuntime(spec, directory, threads, cache / "onnx")
        inputs = {n: np.repeat(blob, n, axis=0) for n in BATCHES}
        times: dict[int, list[float]] = {n: [] for n in BATCHES}
        for n in BATCHES:
            runtime.session.run(runtime.outputs, {"input": inputs[n]})  # warm up
        for _ in range(rounds):
            for n in BATCHES:
                start = time.perf_counter()
                for _ in range(max(1, 8 // n)):
                    runtime.session.run(runtime.outputs, {"input": inputs[n]})
                times[n].append((time.perf_counter() - start) / (max(1, 8 // n) * n) * 1000)
        single = statistics.median(times[1])
        rows += [{"model": spec.name, "runtime": "onnxruntime", "threads": threads, "batch": n,
                  "ms_per_image_p50": round(statistics.median(times[n]), 2),
                  "speedup_over_batch_1": round(single / statistics.median(times[n]), 2)} for n in BATCHES]
    return rows


def bf16_changes(spec: Any, directory: Path, settings: Any) -> dict[str, Any]:
    """What OpenVINO at bf16 changes against f32, on every sample photo through the whole recognizer."""
    import cv2
    import numpy as np

    from irs.inference.recognition import Recognizer

    f32 = Recognizer(spec, directory, settings.model_copy(update={"runtime": "openvino"}))
    bf16 = Recognizer(spec, directory, settings.model_copy(update={"runtime": "openvino", "precision": "bf16"}))
    side, largest, same, photos = f32.input_size, 0.0, 0, sorted(IMAGES.glob("*.jpg"))
    for photo in photos:
        image = cv2.imread(str(photo))
        blob = cv2.dnn.blobFromImage(image, 1 / 255.0, (side, side), swapRB=True, crop=False)
        largest = max(largest, float(np.abs(bf16.runtime.forward(blob) - f32.runtime.forward(blob)).max()))
        same += [d.label for d in bf16(image)] == [d.label for d in f32(image)]
    return {"model": spec.name, "runtime": "openvino", "precision": bf16.runtime.precision,
            "bf16_largest_raw_difference": round(largest, 4), "photos_with_the_same_labels": f"{same}/{len(photos)}"}


if __name__ == "__main__":
    main()
