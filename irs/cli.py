"""The ``irs`` command line."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from irs.settings import LOCAL_ENDPOINT, get_settings

err = Console(stderr=True)
out = Console(soft_wrap=True)
ALWAYS_ON_ID = "local-always-on"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="irs")
def main() -> None:
    """IRS, Image Recognition as a Service.

    Configuration comes from IRS_* environment variables and the irs.env file
    that `irs up` writes; see the README's configuration table.
    """


# --- classify -----------------------------------------------------------------------------
@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one result document per line on stdout.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for all results.")
def classify(paths: tuple[Path, ...], as_json: bool, timeout: float) -> None:
    """Upload images, classify them on the workers, and print each result as it arrives.

    PATHS are image files or directories of them. Exits 1 if any image could not be classified.
    """
    from irs.client import collect, submit_files

    files = _expand(paths)
    if not files:
        raise click.UsageError("no image files found in the given paths")
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=len(files) < 2) as bar:
        sent = bar.add_task("uploading", total=len(files))
        submitted = submit_files(files, on_submitted=lambda _: bar.advance(sent))
        done = bar.add_task("classifying", total=len(files))
        failed = _show(collect(submitted, timeout), as_json, lambda: bar.advance(done))
    if failed:
        sys.exit(1)


def _show(documents: Iterator[dict[str, Any]], as_json: bool, advance: Callable[[], None]) -> int:
    """Print each document as it arrives; returns how many were errors."""
    failed = 0
    for document in documents:
        failed += document["status"] != "ok"
        advance()
        if as_json:
            out.print_json(json.dumps(document), indent=None, highlight=False)
        else:
            _print_result(document)
    return failed


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            files.append(path)
    return files


def _print_result(document: dict[str, Any]) -> None:
    timings = document.get("timings_ms", {})
    spent = ", ".join(f"{k} {v:.0f}" for k, v in timings.items() if v is not None)
    if document["status"] == "ok":
        out.print(f"[bold]{document['summary']}[/]  [dim]({document['pool']}; ms: {spent})[/]", highlight=False)
    else:
        out.print(f"[red]{document['image_key']}: error: {document['error']}[/]", highlight=False)


# --- provision and status ---------------------------------------------------------------------
@main.command()
@click.option("--device-only", is_flag=True, help="Only this edge device's own queue (IRS_DEVICE_ID).")
def provision(device_only: bool) -> None:
    """Create the queues, dead-letter queues and buckets (idempotent; works on AWS too)."""
    from irs.provision import provision as run

    if device_only and not get_settings().device_id:
        raise click.UsageError("--device-only needs IRS_DEVICE_ID: the name of this edge device")
    run(say=lambda line: out.print(line, highlight=False), device_only=device_only)


@main.command()
@click.argument("request_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(request_id: str | None, as_json: bool) -> None:
    """Per pool: queue, workers and the share of images each served; or, given REQUEST_ID, where that
    request went and why."""
    if request_id:
        _request_status(request_id, as_json)
        return
    from irs.status import pool_status

    pools = pool_status()
    if as_json:
        out.print_json(json.dumps([p.as_dict() for p in pools]))
        return
    total = sum(p.served for p in pools) or 1
    table = Table("pool", "waiting", "in flight", "delayed", "dead-lettered", "workers (busy)", "served (share)",
                  "ms per image")
    for p in pools:
        table.add_row(p.pool, str(p.waiting), str(p.in_flight), str(p.delayed), str(p.dead_lettered),
                      f"{p.workers} ({p.busy_workers})", f"{p.served} ({p.served / total:.0%})",
                      f"{p.service_ms:.0f}" if p.service_ms else "-")
    out.print(table)
    out.print("[dim]served: images finished by the pool's live workers since they started[/]")


def _request_status(request_id: str, as_json: bool) -> None:
    from botocore.exceptions import ClientError

    from irs import aws
    from irs.results import result_key

    settings = get_settings()
    try:
        body = aws.client("s3").get_object(Bucket=settings.results_bucket, Key=result_key(request_id))["Body"]
    except ClientError as error:
        raise click.ClickException(f"no result for {request_id} yet ({error.response['Error']['Code']})") from None
    document = json.loads(body.read())
    if as_json:
        out.print_json(json.dumps(document))
        return
    routing = document.get("routing") or {}
    out.print(f"{document['image_key']}: {document['status']}, served by {document['pool']} "
              f"({document.get('worker')})", highlight=False)
    out.print(f"routed to {routing.get('pool', '?')}: {routing.get('reason', 'no routing decision recorded')}",
              highlight=False)
    if routing.get("expected_s"):
        out.print("expected seconds: " + ", ".join(f"{k} {v}" for k, v in routing["expected_s"].items()),
                  highlight=False)


# --- models --------------------------------------------------------------------------------------
@main.group()
def model() -> None:
    """List and fetch the Darknet models."""


@model.command("list")
def model_list() -> None:
    """Every known model, and where it is installed."""
    from irs.models import REGISTRY, find_dir

    table = Table("name", "kind", "input", "weights", "installed at", "notes")
    for spec in REGISTRY.values():
        where = find_dir(spec)
        table.add_row(spec.name, spec.kind, str(spec.input_size), f"{spec.weights.size / 1e6:.1f} MB",
                      str(where) if where else "[dim]not installed[/]", spec.notes)
    out.print(table)


@model.command("fetch")
@click.argument("name")
@click.option("--url-base", help="Download every file from this base URL (a mirror) instead.")
def model_fetch(name: str, url_base: str | None) -> None:
    """Download a model into the cache, checking each file's size and sha256."""
    from irs.models import ModelError, fetch

    try:
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      console=err, transient=True) as bar:
            tasks: dict[str, Any] = {}

            def progress(file_name: str, done: int, total: int) -> None:
                if file_name not in tasks:
                    tasks[file_name] = bar.add_task(file_name, total=total)
                bar.update(tasks[file_name], completed=done)

            target = fetch(name, progress=progress, url_base=url_base)
    except ModelError as error:
        raise click.ClickException(str(error)) from None
    out.print(f"{name} is ready in {target}")


# --- the edge device ---------------------------------------------------------------------------------
@main.group()
def edge() -> None:
    """Commands for an edge device (a Raspberry Pi with a camera)."""


@edge.command("watch")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one result document per line.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between looks at the directory.")
@click.option("--once", is_flag=True, help="Classify what is there now, then exit.")
@click.option("--camera", "camera_every", type=float, default=None, metavar="SECONDS",
              help="Also take a still with the Pi camera (picamera2) every SECONDS into DIRECTORY.")
def edge_watch(directory: Path, as_json: bool, interval: float, once: bool, camera_every: float | None) -> None:
    """Turn every new image in DIRECTORY into a request, routed to wherever it is answered sooner.

    On an edge device whose IRS_LOCAL_IMAGE_DIR is DIRECTORY, an image can be
    served by the device itself without being uploaded; elsewhere every image
    is uploaded and goes to the edge or the cloud queue.
    """
    from irs.camera import CameraUnavailable, capture_stills
    from irs.client import collect, submit_files, submit_from_device

    settings = get_settings()
    on_device = bool(settings.device_id and settings.local_image_dir
                     and settings.local_image_dir.resolve() == directory.resolve())
    if settings.device_id and not on_device:
        err.print(f"[yellow]{directory} is not IRS_LOCAL_IMAGE_DIR: its images are uploaded, not served "
                  "on this device[/]")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    camera_error: list[Exception] = []
    if camera_every is not None:
        def run_camera() -> None:
            try:
                capture_stills(directory, camera_every, stop)
            except CameraUnavailable as error:
                camera_error.append(error)
                stop.set()

        threading.Thread(target=run_camera, name="irs-camera", daemon=True).start()
    err.print(f"watching {directory}{' on device ' + str(settings.device_id) if on_device else ''} (Ctrl-C to stop)")
    seen: set[tuple[str, int]] = set()
    while not stop.is_set():
        current = {(str(p), p.stat().st_mtime_ns) for p in _expand((directory,))}
        new = [Path(path) for path, _ in sorted(current - seen)]
        seen |= current
        if new:
            submitted = submit_from_device(new, directory) if on_device else submit_files(new)
            _show(collect(submitted, timeout=300), as_json, lambda: None)
        if once:
            break
        stop.wait(interval)
    if camera_error:
        raise click.ClickException(str(camera_error[0]))


def _start_flower(procs: Any, settings: Any, env: dict[str, str]) -> tuple[str, str]:
    """Flower on loopback, with a fresh password: its API can stop workers."""
    import secrets

    password = secrets.token_urlsafe(12)
    procs.start("flower", [sys.executable, "-m", "celery", "-A", "irs", "flower", "--address=127.0.0.1",
                           f"--port={settings.flower_port}", f"--basic-auth=irs:{password}"], env)
    return f"http://127.0.0.1:{settings.flower_port}", password


# --- the web tier -----------------------------------------------------------------------------------
@main.command()
@click.option("--host", help="Address to listen on [default: IRS_WEB_HOST, 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [default: IRS_WEB_PORT, 8080].")
def web(host: str | None, port: int | None) -> None:
    """Serve the web app and the REST API (the upload page, /status, /api/v1, /docs)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("webapp.app:app", host=host or settings.web_host, port=port or settings.web_port,
                log_level="info", access_log=False)


# --- deploying to AWS --------------------------------------------------------------------------------
@main.command()
@click.option("--stack-name", default="irs", show_default=True)
@click.option("--prefix", default="irs", show_default=True, help="Prefix of every resource name.")
@click.option("--vpc-id", help="VPC of the worker hosts [default: the account's default VPC].")
@click.option("--image-id", default="", help="AMI of worker hosts, made with deploy/worker-image.sh.")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path), default=Path("irs.env"),
              show_default=True, help="Where the stack's outputs are written, as IRS settings.")
@click.option("--print-template", is_flag=True, help="Only print the CloudFormation template.")
def deploy(stack_name: str, prefix: str, vpc_id: str | None, image_id: str, env_file: Path,
           print_template: bool) -> None:
    """Create or update everything IRS needs in an AWS account, and write its settings to an env file."""
    from irs.deploy.template import dump

    if print_template:
        click.echo(dump(), nl=False)
        return
    from irs import aws
    from irs.deploy.stack import DeployError, write_env
    from irs.deploy.stack import deploy as run_deploy

    if not vpc_id:
        vpcs = aws.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise click.UsageError("no default VPC: pass --vpc-id")
        vpc_id = vpcs[0]["VpcId"]
    try:
        values = run_deploy(stack_name, {"Prefix": prefix, "VpcId": vpc_id, "WorkerImageId": image_id},
                            say=lambda line: err.print(line, highlight=False))
    except DeployError as error:
        raise click.ClickException(str(error)) from None
    write_env(values, env_file, stack_name)
    for key, value in values.items():
        out.print(f"{key}={value}", highlight=False)
    err.print(f"settings written to {env_file}")


@main.command()
@click.option("--stack-name", default="irs", show_default=True)
@click.option("--empty-buckets", is_flag=True, help="Also delete the buckets' contents (uploads and results).")
def teardown(stack_name: str, empty_buckets: bool) -> None:
    """Remove the deployment; buckets that hold objects are only emptied with --empty-buckets."""
    from irs.deploy.stack import DeployError
    from irs.deploy.stack import teardown as run_teardown

    try:
        run_teardown(stack_name, empty_buckets, say=lambda line: err.print(line, highlight=False))
    except DeployError as error:
        raise click.ClickException(str(error)) from None


# --- autoscaling -----------------------------------------------------------------------------------
@main.group(invoke_without_command=True)
@click.option("--provider", type=click.Choice(["local", "ec2"]), default="local", show_default=True,
              help="local: worker processes on this machine; ec2: instances from IRS_EC2_* settings.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between decisions.")
@click.option("--max-instances", default=20, show_default=True, type=click.IntRange(1, 20))
@click.option("--target-latency", default=60.0, show_default=True, help="Seconds an image may wait in a burst.")
@click.option("--boot-delay", default=5.0, show_default=True, help="local: seconds a new host takes to boot.")
@click.option("--once", is_flag=True, help="Decide and act once, then exit.")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on 127.0.0.1:PORT.")
@click.pass_context
def autoscale(ctx: click.Context, provider: str, interval: float, max_instances: int, target_latency: float,
              boot_delay: float, once: bool, metrics_port: int | None) -> None:
    """Run the autoscaler: add worker hosts when the queue grows, drain idle ones when it shrinks."""
    if ctx.invoked_subcommand:
        return
    import logging
    import threading

    from irs.autoscale.controller import Controller
    from irs.autoscale.policy import Config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = get_settings()
    cfg = Config(max_instances=max_instances, target_latency_s=target_latency,
                 boot_s=boot_delay if provider == "local" else Config.boot_s,
                 slots=1 if provider == "local" else settings.concurrency)
    controller = Controller(_provider(provider, max_instances, boot_delay), cfg, interval_s=interval,
                            say=lambda line: out.print(line, highlight=False))
    if once:
        controller.step()
        return
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.run(stop)


def _provider(name: str, max_instances: int, boot_delay: float) -> Any:
    settings = get_settings()
    if name == "local":
        from irs.autoscale.providers.local import LocalProvider

        return LocalProvider(Path(".irs"), boot_delay_s=boot_delay, max_hosts=max_instances)
    from irs.autoscale.providers.ec2 import Ec2Provider, LaunchSpec

    if not (settings.ec2_image_id or settings.ec2_launch_template):
        raise click.UsageError("set IRS_EC2_IMAGE_ID or IRS_EC2_LAUNCH_TEMPLATE for the ec2 provider")
    worker_env = {f"IRS_{k.upper()}": str(v) for k, v in settings.model_dump().items()
                  if k in ("region", "queue_prefix", "input_bucket", "results_bucket", "model", "endpoint_url")
                  and v is not None}
    spec = LaunchSpec(image_id=settings.ec2_image_id, launch_template=settings.ec2_launch_template,
                      instance_type=settings.ec2_instance_type, subnet_id=settings.ec2_subnet_id,
                      security_group_ids=tuple(g for g in settings.ec2_security_group_ids.split(",") if g),
                      instance_profile=settings.ec2_instance_profile, worker_env=worker_env)
    return Ec2Provider(spec, max_hosts=max_instances, concurrency=settings.concurrency)


@autoscale.command("simulate")
@click.option("--trace", "trace_name", default="step", show_default=True,
              type=click.Choice(["burst", "step", "diurnal", "poisson_bursts", "big_burst"]))
@click.option("--policy", "policies", multiple=True, default=("irs", "aws_target_tracking", "seed"), show_default=True,
              type=click.Choice(["irs", "aws_target_tracking", "seed", "keda", "static_20", "static_1"]))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON row per policy.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Timeline PNG [default: autoscale-TRACE.png].")
def autoscale_simulate(trace_name: str, policies: tuple[str, ...], as_json: bool, plot: Path | None) -> None:
    """Replay a trace through the real policy code against a simulated fleet, and draw the timeline."""
    from irs.autoscale.baselines import all_policies
    from irs.autoscale.policy import Config
    from irs.autoscale.simulate import simulate, traces
    from irs.autoscale.timeline import draw

    cfg = Config()
    trace = next(t for t in traces() if t.name == trace_name)
    results = [simulate(trace, p, cfg) for p in all_policies(cfg) if p.name in policies]
    path = draw(results, plot or Path(f"autoscale-{trace_name}.png"), f"trace {trace_name}")
    if as_json:
        for result in results:
            out.print_json(json.dumps(result.row()), indent=None)
    else:
        table = Table(*results[0].row().keys())
        for result in results:
            table.add_row(*(str(v) for v in result.row().values()))
        out.print(table)
    err.print(f"timeline: {path}")


# --- the local stack ---------------------------------------------------------------------------
@main.command()
@click.option("--port", default=4566, show_default=True)
def emulator(port: int) -> None:
    """Run only the local AWS emulator on 127.0.0.1."""
    from irs.emulator import serve

    serve("127.0.0.1", port)


@main.command()
@click.option("-c", "--concurrency", type=int, help="Worker processes (default IRS_CONCURRENCY).")
@click.option("--demo-dir", type=click.Path(file_okay=False, path_type=Path), envvar="IRS_DEMO_IMAGES",
              help="Images the demo classifies [env IRS_DEMO_IMAGES].")
@click.option("--demo/--no-demo", default=True, show_default=True, help="Classify the demo images at start.")
@click.option("--boot-delay", default=5.0, show_default=True, help="Seconds an autoscaled local host takes to boot.")
@click.option("--edge-floor-ms", default=1500.0, show_default=True,
              help="The emulated edge worker takes at least this long per image, like a Raspberry Pi.")
def up(concurrency: int | None, demo_dir: Path | None, demo: bool, boot_delay: float, edge_floor_ms: float) -> None:
    """Run the whole local stack until Ctrl-C: emulator, queues, buckets, the cloud and an emulated edge
    worker, the autoscaler, a demo."""
    from irs import stack
    from irs.autoscale.providers.local import LocalProvider

    settings = get_settings()
    endpoint = settings.endpoint_url or LOCAL_ENDPOINT
    values = {"IRS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
              "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
              "IRS_MONITORING": os.environ.get("IRS_MONITORING", "true")}  # Flower, inspect and events
    if settings.model_dir:
        values["IRS_MODEL_DIR"] = str(settings.model_dir.resolve())
    os.environ.update(values)
    get_settings.cache_clear()  # nothing has read the settings for AWS yet; now they see the endpoint
    settings = get_settings()
    env = dict(os.environ)

    signal.signal(signal.SIGTERM, stack.raise_stopped)
    signal.signal(signal.SIGINT, stack.raise_stopped)
    procs = stack.Stack(Path(".irs/logs"), say=lambda line: err.print(line, highlight=False))
    fleet = LocalProvider(Path(".irs"), boot_delay_s=boot_delay)
    env_file = None
    try:
        _ensure_model(settings.model)
        _ensure_model("yolo-fastest-1.1")  # the emulated edge worker's
        stack.start_emulator(procs, endpoint, env)
        from irs.provision import provision as run_provision

        run_provision(settings, say=lambda line: err.print(f"  {line}", highlight=False))
        env_file = stack.write_env_file(values)
        worker = procs.start("worker-cloud", stack.worker_argv("cloud", concurrency or settings.concurrency),
                             {**env, "IRS_INSTANCE_ID": ALWAYS_ON_ID, "IRS_ALWAYS_ON": "true"})
        fleet.register(ALWAYS_ON_ID, worker.pid, always_on=True)
        procs.start("worker-edge", stack.worker_argv("edge", 1),
                    {**env, "IRS_INSTANCE_ID": "local-edge-emulated", "IRS_POOL_NAME": "edge",
                     "IRS_SERVICE_FLOOR_MS": str(edge_floor_ms),
                     "IRS_MODEL": "yolo-fastest-1.1"})
        procs.start("autoscaler", [sys.executable, "-m", "irs.cli", "autoscale", "--provider", "local",
                                   "--boot-delay", str(boot_delay)], env)
        web_url = f"http://{settings.web_host}:{settings.web_port}"
        procs.start("web", [sys.executable, "-m", "irs.cli", "web"], env)
        flower = _start_flower(procs, settings, env) if settings.monitoring else None
        procs.wait_for("worker-cloud", "ready.")
        err.print("worker ready")
        if demo and demo_dir and demo_dir.is_dir():
            _demo(demo_dir, procs)
        elif demo:
            err.print("no demo images (set IRS_DEMO_IMAGES or --demo-dir); skipping the demo")
        procs.wait_for("web", "Application startup complete")
        err.print(f"\n[bold green]IRS is up[/]: web app and API at [bold]{web_url}[/] (status: {web_url}/status, "
                  f"API docs: {web_url}/docs); AWS emulated at {endpoint}.")
        if flower:
            err.print(f"Flower at [bold]{flower[0]}[/] (user irs, password {flower[1]})")
        err.print("In another shell, from this directory:\n"
                  "  .venv/bin/irs classify path/to/image.jpg\n  .venv/bin/irs status\n"
                  "  .venv/bin/celery -A irs inspect ping\n"
                  "Press Ctrl-C to stop.")
        while True:
            procs.check()
            time.sleep(1)
    except stack.Stopped:
        err.print("\nstopping...")
    except Exception as error:  # noqa: BLE001 - every failure is reported, then everything stops
        err.print(f"[red]irs up failed: {error}[/]")
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.stop("autoscaler")  # first, so it starts nothing new while the fleet drains
        fleet.stop_all()
        procs.stop()
        if env_file:
            env_file.unlink(missing_ok=True)
        err.print("stopped")


def _ensure_model(name: str) -> None:
    from irs.models import ModelError, resolve

    try:
        resolve(name)
    except ModelError:
        err.print(f"model {name} is not installed; fetching it")
        from irs.models import fetch

        fetch(name)


def _demo(directory: Path, procs: Any) -> None:
    from irs.client import collect, submit_files

    files = _expand((directory,))
    err.print(f"demo: classifying {len(files)} images from {directory}")
    begin = time.monotonic()
    _show(collect(submit_files(files), 120), False, procs.check)
    err.print(f"demo: {len(files)} images in {time.monotonic() - begin:.1f} s")


if __name__ == "__main__":
    main()
