"""What serving a team's own models costs: first use, alternating between two, and the memory of holding two.

    python bench/models.py [--json] [--images N]

On a private local stack (the emulator on loopback, a real `celery worker -c 2`), with two repository
models made of the same weights (`yolo-fastest-1.1-xl` under the names `alpha` and `beta`, so the
difference is serving two models, not a lighter one):

  first use   in this process: the download of a version's files (checked by sha256) and the load
              (conversion to ONNX, session), in ms; then the same version again, from the cache
  alone       N images, all for `alpha`, through the worker: images/s
  alternating N images, `alpha` and `beta` in turn (ten at a time), through the worker: images/s, and
              the ratio to alone
  memory      the RSS of each worker process after serving both (each holds the default model too)

The legs through the worker run alternately, alone first, then twice more each, so noise hits both.
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

from localstack import cpu_model, private_environment, process_tree, rss_mb, say  # noqa: E402
from report import emit_result  # noqa: E402

SOURCE = "yolo-fastest-1.1-xl"


def _add(name: str, settings: Any) -> Any:
    from irs.inference.registry import resolve
    from irs.repository.check import check
    from irs.repository.store import add

    spec, directory = resolve(SOURCE, settings)
    paths = {"cfg": directory / spec.cfg.name, "weights": directory / spec.weights.name,
             "names": directory / spec.labels.name}
    manifest = check(name, paths["cfg"], paths["weights"], paths["names"], settings)
    add(manifest, paths, settings)  # type: ignore[arg-type]
    return manifest


def first_use(manifest: Any, settings: Any) -> dict[str, float]:
    """Download and load, timed apart, into an empty cache; then the cached files' load alone."""
    from irs.inference.recognition import Recognizer
    from irs.repository.cache import installed
    from irs.repository.check import spec_of

    spec = spec_of(manifest)
    with tempfile.TemporaryDirectory() as cache:
        fresh = settings.model_copy(update={"cache_dir": Path(cache), "input_size": None})
        begin = time.perf_counter()
        folder = installed(manifest, fresh)
        downloaded = time.perf_counter()
        Recognizer(spec, folder, fresh)
        loaded = time.perf_counter()
        installed(manifest, fresh)
        Recognizer(spec, folder, fresh)  # the graph converted above is cached: a second process's first use
        again = time.perf_counter()
    return {"download_ms": (downloaded - begin) * 1000, "load_ms": (loaded - downloaded) * 1000,
            "cached_first_use_ms": (again - loaded) * 1000}


def through_worker(paths: list[Path], count: int, models: list[str]) -> float:
    """Images/s for ``count`` images, the models taken in turn ten images at a time (a SendMessageBatch each)."""
    from irs.client import collect, submit_files

    files = [paths[n % len(paths)] for n in range(count)]
    begin = time.perf_counter()
    submitted = []
    for n, start in enumerate(range(0, count, 10)):
        submitted += submit_files(files[start:start + 10], model=models[n % len(models)])
    documents = list(collect(submitted, 600))
    wall = time.perf_counter() - begin
    assert all(d["status"] == "ok" for d in documents), [d for d in documents if d["status"] != "ok"][:1]
    assert {d["model"]["name"] for d in documents} == {m.split("@")[0] for m in models}
    return count / wall


def run(count: int) -> dict[str, Any]:
    from irs.aws.provision import provision
    from irs.local.stack import Stack, start_emulator
    from irs.pools import CLOUD, served_by
    from irs.settings import get_settings
    from irs.worker.command import argv as worker_argv

    settings = get_settings()
    paths = sorted(Path(os.environ["IRS_DEMO_IMAGES"]).glob("*.jpg"))
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cpus",
                              "models": f"alpha and beta: {SOURCE}'s weights", "images": count}
    stack = Stack(Path(tempfile.mkdtemp(prefix="irs-bench-models-")), say=say)
    try:
        start_emulator(stack, settings.endpoint_url or "", dict(os.environ))
        provision(settings, say=lambda _: None)
        alpha, beta = _add("alpha", settings), _add("beta", settings)
        say("first use: download and load, in this process")
        uses = [first_use(alpha, settings) for _ in range(3)]
        result.update({k: round(statistics.median(u[k] for u in uses), 1) for k in uses[0]})
        worker = stack.start("worker", worker_argv(served_by(CLOUD), 2, "cloud"), dict(os.environ))
        stack.wait_for("worker", "ready.")
        through_worker(paths, 40, [alpha.ref, beta.ref])  # warm: both models in both processes
        alone, alternating = [], []
        for leg in range(3):
            say(f"round {leg + 1} of 3: {count} images for alpha alone, then alpha and beta in turn")
            alone.append(through_worker(paths, count, [alpha.ref]))
            alternating.append(through_worker(paths, count, [alpha.ref, beta.ref]))
        result.update({
            "alone_images_per_s": round(statistics.median(alone), 2),
            "alternating_images_per_s": round(statistics.median(alternating), 2),
            "alternating_over_alone": round(statistics.median(alternating) / statistics.median(alone), 3),
            "runs_alone": [round(v, 2) for v in alone], "runs_alternating": [round(v, 2) for v in alternating],
            "worker_rss_mb_by_process": [round(rss_mb(pid), 1) for pid in process_tree(worker.pid)],
        })
    finally:
        stack.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--images", type=int, default=120, help="images per leg (default 120)")
    args = parser.parse_args()
    with private_environment() as scratch:
        os.environ["IRS_CACHE_DIR"] = str(scratch / "cache")  # the worker starts with no model fetched
        result = run(args.images)
    emit_result(result, args.json, "models")


if __name__ == "__main__":
    main()
