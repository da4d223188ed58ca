"""Throughput, cost and latency of IRS against the bare model, side by side in one run.

    python bench/throughput.py [--json] [--quick]

Legs, all on the same photos and model:
  bare     the model in a tight loop (pre-decoded pixels), one process per core, with the
           workers' thread count, on the default runtime (IRS_RUNTIME), then once on each
           other runtime (bare_by_runtime, bare_opencv_*)
  irs      the whole path on a private local stack: upload to S3, enqueue on SQS, a real
           `celery worker -c 2`, result document to S3, client holds every result
  cold     a fresh process per image that imports OpenCV and loads the model, as a
           command-line tool run per request does
  path     the CPU of each step of the worker's path (S3 GET, decode, inference, S3 PUT), one
           step at a time in one process against the same emulator: where the irs leg's CPU goes
  latency  one image at a time on the idle stack, end to end from the start of the upload
           until the client holds the result, with the stages from the result documents
  host     the irs leg again with a worker of 1, 2, 4, 8 and 16 processes, as on a host of that
           many cores, beside the bare model on as many of this machine's cores: what the
           worker path costs per image at each size, and what its one consumer costs when it
           feeds that many processes (past this machine's cores the processes share them)

AWS requests are counted at the emulator, so every request of every process is seen. `this_host` is what
a host like this machine (its cores, --usd-per-hour) serves, and what a million images cost on it.
The JSON goes to stdout with --json; a table goes to stdout otherwise; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack import (  # noqa: E402
    aws_requests,
    cpu_model,
    cpu_seconds,
    private_environment,
    process_tree,
    rss_mb,
    say,
    wait_for_reports,
)
from report import emit_result  # noqa: E402

from irs.jobs.cost import usd_per_million  # noqa: E402

# --- bare ----------------------------------------------------------------------------------------
RUNTIMES = ("onnxruntime", "openvino", "opencv")  # IRS_RUNTIME values with a bare leg of their own


def _bare_loop(args: tuple[list[bytes], int, str | None]) -> tuple[float, list[float], str]:
    """One process: decode once, then infer `count` times; returns CPU seconds, per-image ms and the runtime.

    It uses the workers' thread count (IRS_CV_THREADS), so both sides run the same kernels; ``runtime`` is an
    IRS_RUNTIME for this process (the default when None).
    """
    payloads, count, runtime = args
    if runtime:
        os.environ["IRS_RUNTIME"] = runtime  # a spawned process: read when its settings are first read
    from irs.inference.imaging import decode
    from irs.inference.recognition import load

    recognizer = load()
    pixels = [decode(p, 1 << 30, 1 << 30)[0] for p in payloads]
    for image in pixels:  # warm up
        recognizer(image)
    times, cpu0 = [], time.process_time()
    for n in range(count):
        begin = time.perf_counter()
        recognizer(pixels[n % len(pixels)])
        times.append((time.perf_counter() - begin) * 1000)
    return time.process_time() - cpu0, times, recognizer.runtime.name


def bare_leg(payloads: list[bytes], count: int, processes: int = 2, runtime: str | None = None) -> dict[str, Any]:
    per = count // processes
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_bare_loop, [(payloads, 2, runtime)] * processes)  # import and load outside the clock
        begin = time.perf_counter()
        results = pool.map(_bare_loop, [(payloads, per, runtime)] * processes)
        wall = time.perf_counter() - begin
    cpu = sum(r[0] for r in results)
    # The loop's own clock excludes pool start-up; wall includes a model load per process (~5 ms).
    times = [t for r in results for t in r[1]]
    return {"images_per_s": per * processes / wall, "cpu_s_per_image": cpu / (per * processes),
            "inference_ms_p50": statistics.median(times), "runtime": results[0][2]}


def _single_thread_latency(payloads: list[bytes], count: int) -> float:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        _, times, _ = pool.apply(_bare_loop, ((payloads, count, None),))
    return statistics.median(times)


# --- cold ----------------------------------------------------------------------------------------
# What a command-line tool run per request does: plain OpenCV, no IRS or Celery imports.
COLD_SCRIPT = """
import sys
import cv2
import numpy as np
cfg, weights, names, side, image = sys.argv[1:6]
net = cv2.dnn.readNetFromDarknet(cfg, weights)
labels = open(names).read().splitlines()
pixels = cv2.imread(image)
net.setInput(cv2.dnn.blobFromImage(pixels, 1 / 255.0, (int(side), int(side)), swapRB=True, crop=False))
rows = np.vstack(net.forward(net.getUnconnectedOutLayersNames()))
scores = rows[:, 5:].max(axis=1)
print(image, sorted({labels[i] for i in rows[scores > 0.25, 5:].argmax(axis=1)}))
"""


def cold_leg(paths: list[Path], count: int, processes: int = 2) -> dict[str, float]:
    from irs.inference.registry import resolve

    spec, directory = resolve(os.environ.get("IRS_MODEL", "yolo-fastest-1.1-xl"))
    files = [*(str(directory / f.name) for f in (spec.cfg, spec.weights, spec.labels)), str(spec.input_size)]
    begin, cpu0 = time.perf_counter(), _children_cpu()
    running: list[subprocess.Popen[bytes]] = []
    for n in range(count):
        if len(running) >= processes:
            running.pop(0).wait()
        running.append(subprocess.Popen([sys.executable, "-c", COLD_SCRIPT, *files, str(paths[n % len(paths)])],
                                        stdout=subprocess.DEVNULL))
    for child in running:
        child.wait()
    return {"images_per_s": count / (time.perf_counter() - begin), "cpu_s_per_image": (_children_cpu() - cpu0) / count}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the local stack ---------------------------------------------------------------------------------


def irs_leg(paths: list[Path], count: int, endpoint: str, worker_pid: int, emulator_pid: int) -> dict[str, Any]:
    from irs.client import collect, submit_files

    files = [paths[n % len(paths)] for n in range(count)]
    list(collect(submit_files(files[:4]), 120))  # warm: connections, model, first-request paths
    wait_for_reports({"cloud"})  # and its first fleet report, which makes the consumer's S3 client
    aws_requests(endpoint, reset=True)
    pids = process_tree(worker_pid)
    cpu0, main0 = cpu_seconds(pids), cpu_seconds([worker_pid])
    emulator0, client0 = cpu_seconds([emulator_pid]), time.process_time()
    begin = time.perf_counter()
    documents = list(collect(submit_files(files), 600))
    wall = time.perf_counter() - begin
    cpu, main = cpu_seconds(pids) - cpu0, cpu_seconds([worker_pid]) - main0
    emulator, client = cpu_seconds([emulator_pid]) - emulator0, time.process_time() - client0
    requests = aws_requests(endpoint)
    assert all(d["status"] == "ok" for d in documents), "an image failed in the benchmark"
    per_image = {op: n / count for op, n in sorted(requests.items())}
    return {
        "images_per_s": count / wall,
        "cpu_s_per_image": cpu / count,
        "main_cpu_s_per_image": main / count,
        "emulator_cpu_s_per_image": emulator / count,
        "client_cpu_s_per_image": client / count,
        "aws_requests_per_image": sum(per_image.values()),
        "aws_requests_by_operation": per_image,
        "usd_per_million_images": usd_per_million(per_image),
        "worker_rss_mb": max(rss_mb(pid) for pid in process_tree(worker_pid)),
        "worker_rss_mb_by_process": [round(rss_mb(pid), 1) for pid in process_tree(worker_pid)],
        "worker_pids": len(pids),
    }


def path_leg(paths: list[Path], rounds: int) -> dict[str, float]:
    """CPU milliseconds of each step of a worker's path, one step at a time in this process, against the
    stack's emulator: where the IRS path's CPU goes beyond inference (the consumer's share is the irs leg's
    main process)."""
    from irs.aws.clients import client
    from irs.inference.imaging import decode
    from irs.inference.recognition import load
    from irs.settings import get_settings

    settings, s3, recognizer = get_settings(), client("s3"), load()
    payload = paths[0].read_bytes()
    s3.put_object(Bucket=settings.input_bucket, Key="bench-path/photo.jpg", Body=payload)
    pixels, info = decode(payload, settings.max_image_bytes, settings.max_image_pixels, recognizer.input_size)
    document = json.dumps({"detections": [{"label": "dog", "box": {"x": 1}}] * 10, "pad": "x" * 1500}).encode()
    steps = {
        "s3_get": lambda: s3.get_object(Bucket=settings.input_bucket, Key="bench-path/photo.jpg")["Body"].read(),
        "decode": lambda: decode(payload, settings.max_image_bytes, settings.max_image_pixels,
                                 recognizer.input_size),
        "inference": lambda: recognizer(pixels, size=(info.width, info.height)),
        "s3_put": lambda: s3.put_object(Bucket=settings.results_bucket, Key="bench-path/result.json",
                                        Body=document, ContentType="application/json"),
    }
    cpu: dict[str, float] = {}
    for name, step in steps.items():
        step()
        begin = time.process_time()
        for _ in range(rounds):
            step()
        cpu[name] = (time.process_time() - begin) / rounds * 1000
    return cpu


def latency_leg(paths: list[Path], count: int, endpoint: str) -> dict[str, Any]:
    from irs.client import collect, upload_and_submit

    totals, stages = [], {}
    aws_requests(endpoint, reset=True)
    for n in range(count):
        time.sleep(0.05)  # idle between requests
        begin = time.perf_counter()
        submitted = upload_and_submit(paths[n % len(paths)], f"uploads/bench-latency/{n}/")
        (document,) = collect([submitted], 60)
        totals.append((time.perf_counter() - begin) * 1000)
        for stage, ms in document["timings_ms"].items():
            stages.setdefault(stage, []).append(ms)
    requests = sum(aws_requests(endpoint).values())
    totals.sort()
    breakdown = {stage: statistics.median(v) for stage, v in stages.items() if None not in v}
    breakdown["result_return_and_rest"] = statistics.median(totals) - sum(breakdown.values())
    return {"p50_ms": statistics.median(totals), "p95_ms": totals[int(0.95 * (len(totals) - 1))],
            "stages_p50_ms": breakdown, "aws_requests_per_image": requests / count}


HOST_CORES = (2, 4, 8, 16)
HOST_SIZES = (1, 2, 4, 8, 16)  # worker processes in the host leg


def host_leg(stack: Any, paths: list[Path], payloads: list[bytes], count: int, endpoint: str) -> list[dict[str, Any]]:
    """One row per host size: a worker of that many processes on the deep queue of the irs leg, and the bare
    model on as many processes as this machine has cores for."""
    from irs.pools import CLOUD, served_by
    from irs.worker.command import argv as worker_argv

    rows = []
    for processes in HOST_SIZES:
        name = f"host-{processes}"
        say(f"host: {count} images, 1 worker x {processes} processes")
        # A short long poll, so each worker drains and stops in seconds once its row is done.
        worker = stack.start(name, worker_argv(served_by(CLOUD), processes, name),
                             {**os.environ, "IRS_SQS_WAIT_TIME_S": "2"})
        stack.wait_for(name, "ready.")
        try:
            leg = irs_leg(paths, count, endpoint, worker.pid, stack.pid("emulator"))
        finally:
            stack.stop(name)
        requests = leg["aws_requests_by_operation"]
        row = {"processes": processes, "shares_cores": processes > (os.cpu_count() or 1),
               "images_per_s": round(leg["images_per_s"], 2),
               "worker_cpu_ms_per_image": round(leg["cpu_s_per_image"] * 1000, 2),
               "consumer_cpu_ms_per_image": round(leg["main_cpu_s_per_image"] * 1000, 2),
               "pool_cpu_ms_per_image": round((leg["cpu_s_per_image"] - leg["main_cpu_s_per_image"]) * 1000, 2),
               "receives_per_image": round(requests.get("sqs ReceiveMessage", 0.0), 3),
               "aws_requests_per_image": round(leg["aws_requests_per_image"], 2),
               "worker_rss_mb": round(leg["worker_rss_mb"], 1)}
        if not row["shares_cores"]:
            bare = bare_leg(payloads, count, processes)
            row.update({"bare_images_per_s": round(bare["images_per_s"], 2),
                        "bare_cpu_ms_per_image": round(bare["cpu_s_per_image"] * 1000, 2),
                        "cpu_per_image_ratio": round(leg["cpu_s_per_image"] / bare["cpu_s_per_image"], 3)})
        rows.append(row)
    return rows


def run(quick: bool, legs: set[str], usd_per_hour: float) -> dict[str, Any]:
    from irs.local.stack import Stack, start_emulator
    from irs.pools import CLOUD, served_by
    from irs.settings import get_settings
    from irs.worker.command import argv as worker_argv

    count, latency_count, cold_count = (60, 30, 6) if quick else (280, 100, 20)
    image_dir = Path(os.environ["IRS_DEMO_IMAGES"])
    paths = sorted(image_dir.glob("*.jpg"))
    if not paths:
        raise SystemExit(f"no photos in {image_dir}; set IRS_DEMO_IMAGES")
    payloads = [p.read_bytes() for p in paths]
    settings = get_settings()
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cpus, Python {platform.python_version()}, "
                   f"{platform.system()}",
        "model": settings.model,
        "images": count,
    }
    bare_runs: list[dict[str, float]] = []
    others: dict[str, dict[str, Any]] = {}
    if "bare" in legs:
        say(f"bare: {count} images, 2 processes x {settings.cv_threads} threads, model {settings.model}")
        bare_runs.append(bare_leg(payloads, count))
        for runtime in RUNTIMES:
            if runtime != bare_runs[0]["runtime"]:
                say(f"bare on {runtime}")
                others[runtime] = bare_leg(payloads, count, runtime=runtime)
        result["bare_inference_ms"] = round(_single_thread_latency(payloads, 3 * len(payloads)), 2)

    irs: dict[str, Any] = {}
    if legs & {"irs", "latency"}:
        stack = Stack(Path(tempfile.mkdtemp(prefix="irs-bench-")), say=say)
        try:
            start_emulator(stack, settings.endpoint_url or "", dict(os.environ))
            from irs.aws.provision import provision

            provision(settings, say=lambda _: None)
            worker = stack.start("worker", worker_argv(served_by(CLOUD), 2, "cloud"), dict(os.environ))
            stack.wait_for("worker", "ready.")
            if "irs" in legs:
                say(f"irs: {count} images through S3 and SQS, 1 worker x 2 processes")
                emulator_pid = stack.pid("emulator")
                irs = irs_leg(paths, count, settings.endpoint_url or "", worker.pid, emulator_pid)
            if "irs" in legs:
                say("path: the CPU of each step of the worker's path, one at a time")
                result["worker_path_cpu_ms"] = {k: round(v, 2) for k, v in path_leg(paths, count // 2).items()}
            if "latency" in legs:
                say(f"latency: {latency_count} single images on the idle stack")
                latency = latency_leg(paths, latency_count, settings.endpoint_url or "")
                result.update({
                    "latency_p50_ms": round(latency["p50_ms"], 1),
                    "latency_p95_ms": round(latency["p95_ms"], 1),
                    "latency_stages_p50_ms": {k: round(v, 1) for k, v in latency["stages_p50_ms"].items()},
                    "latency_aws_requests_per_image": round(latency["aws_requests_per_image"], 2),
                })
            if "host" in legs:
                stack.stop("worker")  # each size has the queue to itself
                # At least 200 images a size: a consumer's CPU is read in 10 ms clock ticks.
                result["host_model"] = host_leg(stack, paths, payloads, max(count, 200), settings.endpoint_url or "")
        finally:
            stack.stop()
    if "bare" in legs and "irs" in legs:
        say("bare again, so noise between the legs shows")
        bare_runs.append(bare_leg(payloads, count))
    bare: dict[str, float] = {}
    if bare_runs:
        bare = {k: statistics.mean(r[k] for r in bare_runs) for k in bare_runs[0] if k != "runtime"}
        result["runtime"] = bare_runs[0]["runtime"]
        result["bare_images_per_s"] = round(bare["images_per_s"], 2)
        result["bare_images_per_s_runs"] = [round(r["images_per_s"], 2) for r in bare_runs]
        result["bare_cpu_ms_per_image"] = round(bare["cpu_s_per_image"] * 1000, 2)
        everyone = {result["runtime"]: bare, **others}
        result["bare_by_runtime"] = {name: round(leg["images_per_s"], 2) for name, leg in everyone.items()}
        if "opencv" in everyone:
            result["bare_opencv_images_per_s"] = round(everyone["opencv"]["images_per_s"], 2)
            result["bare_opencv_cpu_ms_per_image"] = round(everyone["opencv"]["cpu_s_per_image"] * 1000, 2)
            result["bare_over_bare_opencv"] = round(bare["images_per_s"] / everyone["opencv"]["images_per_s"], 2)
    if irs:
        result.update({
            "irs_images_per_s": round(irs["images_per_s"], 2),
            "irs_worker_cpu_ms_per_image": round(irs["cpu_s_per_image"] * 1000, 2),
            "irs_cpu_ms_per_image": round(irs["cpu_s_per_image"] * 1000, 2),
            "irs_worker_main_process_cpu_ms_per_image": round(irs["main_cpu_s_per_image"] * 1000, 2),
            "emulator_cpu_ms_per_image": round(irs["emulator_cpu_s_per_image"] * 1000, 2),
            "client_cpu_ms_per_image": round(irs["client_cpu_s_per_image"] * 1000, 2),
            "aws_requests_per_image": round(irs["aws_requests_per_image"], 2),
            "aws_requests_by_operation": {k: round(v, 3) for k, v in irs["aws_requests_by_operation"].items()},
            "usd_per_million_images": round(irs["usd_per_million_images"], 2),
            "worker_rss_mb": round(irs["worker_rss_mb"], 1),
            "worker_rss_mb_by_process": irs["worker_rss_mb_by_process"],
        })
    if irs:
        consumer_ms = irs["main_cpu_s_per_image"] * 1000
        pool_ms = irs["cpu_s_per_image"] * 1000 - consumer_ms
        result["consumer_cpu_ms_per_image"] = round(consumer_ms, 2)
        result["pool_cpu_ms_per_image"] = round(pool_ms, 2)
        consumer_at = consumer_by_size(result)
        capacity = {n: host_capacity(n, pool_ms, consumer_at.get(n, consumer_ms)) for n in HOST_CORES}
        result["host_capacity_images_per_s"] = {str(n): round(c, 1) for n, c in capacity.items()}
        if bare_runs:
            per_core = 1 / bare["cpu_s_per_image"]  # the bare model's images/s on one core
            result["host_capacity_over_bare"] = {str(n): round(c / (n * per_core), 3) for n, c in capacity.items()}
        cores = os.cpu_count() or 1
        here = host_capacity(cores, pool_ms, consumer_at.get(cores, consumer_ms))
        result["this_host"] = {  # what a host like this machine serves, and what a million images cost on it
            "cores": cores, "model": result["model"], "images_per_s": round(here, 1), "usd_per_hour": usd_per_hour,
            "instance_usd_per_million_images": round(usd_per_hour * 1e6 / (here * 3600), 3),
            "requests_usd_per_million_images": round(irs["usd_per_million_images"], 2)}
    if irs and "bare_opencv_cpu_ms_per_image" in result:
        result["irs_cpu_over_bare_opencv_cpu"] = round(result["irs_cpu_ms_per_image"] /
                                                       result["bare_opencv_cpu_ms_per_image"], 3)
    if irs and bare_runs:
        result["irs_over_bare"] = round(irs["images_per_s"] / bare["images_per_s"], 3)
        result["cpu_per_image_ratio"] = round(irs["cpu_s_per_image"] / bare["cpu_s_per_image"], 3)
    if "cold" in legs:
        say(f"cold: {cold_count} images, a fresh process each, 2 at a time")
        cold = cold_leg(paths, cold_count)
        result["cold_images_per_s"] = round(cold["images_per_s"], 2)
        result["cold_cpu_ms_per_image"] = round(cold["cpu_s_per_image"] * 1000, 1)
        if irs:
            result["irs_over_cold"] = round(irs["images_per_s"] / cold["images_per_s"], 1)
            result["cold_over_irs_worker_cpu_per_image"] = round(cold["cpu_s_per_image"] / irs["cpu_s_per_image"], 1)
    return result


def consumer_by_size(result: dict[str, Any]) -> dict[int, float]:
    """The consumer's CPU ms per image by worker processes, from the host leg: a host of n cores runs n
    processes, so its consumer costs what the leg measured at that size."""
    return {row["processes"]: row["consumer_cpu_ms_per_image"] for row in result.get("host_model", [])}


def host_capacity(cores: int, pool_cpu_ms: float, consumer_cpu_ms: float) -> float:
    """Images a second one host of ``cores`` cores serves, from CPU per image: its pool processes (a process per
    core), or its one consumer, whichever is the bottleneck. Derived, not measured: the emulator cannot serve
    hundreds of requests a second on two cores."""
    return min(cores * 1000 / pool_cpu_ms, 1000 / consumer_cpu_ms)


def plot_host(result: dict[str, Any], path: Path) -> None:
    """Images/s a host serves by its cores: the bare model on every core, IRS's pool processes, and what one
    consumer can feed, so where the bound lies shows at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cores = list(HOST_CORES)
    per_core = 1000 / result["bare_cpu_ms_per_image"]
    consumer_at = consumer_by_size(result)
    figure, axes = plt.subplots(figsize=(7, 4.2))
    axes.plot(cores, [n * per_core for n in cores], "o--", label="the bare model on every core")
    axes.plot(cores, [n * 1000 / result["pool_cpu_ms_per_image"] for n in cores], "o-",
              label="IRS's pool processes, one per core")
    axes.plot(cores, [1000 / consumer_at[n] for n in cores], "s:", label="what one consumer can feed")
    axes.plot(cores, [result["host_capacity_images_per_s"][str(n)] for n in cores], "o-", linewidth=3, alpha=0.5,
              label="the host: the lower of the two")
    axes.set(xlabel="cores (worker processes)", ylabel="images/s", xticks=cores,
             title=f"One host: {result['model']} on {result['runtime']}\nderived from CPU per image, {result['date']}")
    axes.title.set_fontsize(10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer images: under two minutes")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "throughput" / "host.png",
                        help="where the host model's picture goes, when the bare, irs and host legs ran")
    parser.add_argument("--usd-per-hour", type=float, default=0.085,
                        help="this machine's instance price, for this_host's cost per million images "
                             "(default: a c6i.large, on demand in US East)")
    parser.add_argument("--legs", default="bare,irs,host,latency,cold",
                        help="comma-separated legs to run (default: all); ratios need their legs")
    args = parser.parse_args()
    with private_environment():
        result = run(args.quick, set(args.legs.split(",")), args.usd_per_hour)
    if {"host_model", "bare_cpu_ms_per_image", "pool_cpu_ms_per_image"} <= result.keys():
        plot_host(result, args.plot)
    emit_result(result, args.json, "throughput")


if __name__ == "__main__":
    main()
