"""``irs autoscale``: the autoscaler (with the janitor beside it), and its simulator."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from irs.cli.output import err, out
from irs.settings import get_settings


@click.group(invoke_without_command=True)
@click.option("--provider", type=click.Choice(["local", "ec2"]), default="local", show_default=True,
              help="local: worker processes on this machine; ec2: instances from IRS_EC2_* settings.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between decisions.")
@click.option("--max-instances", default=20, show_default=True, type=click.IntRange(1, 20))
@click.option("--target-latency", default=60.0, show_default=True, help="Seconds an image may wait in a burst.")
@click.option("--boot-delay", default=5.0, show_default=True, help="local: seconds a new host takes to boot.")
@click.option("--once", is_flag=True, help="Decide and act once, then exit.")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on 127.0.0.1:PORT.")
@click.option("--janitor/--no-janitor", default=True, show_default=True,
              help="Also run the janitor: stranded edge requests to the cloud, orphaned queues removed.")
@click.pass_context
def autoscale(ctx: click.Context, provider: str, interval: float, max_instances: int, target_latency: float,
              boot_delay: float, once: bool, metrics_port: int | None, janitor: bool) -> None:
    """Run the autoscaler: add worker hosts when the queue grows, drain idle ones when it shrinks."""
    if ctx.invoked_subcommand:
        return
    import logging
    import threading

    from irs.autoscale.controller import Controller
    from irs.autoscale.policy import Config
    from irs.janitor.schedule import Janitor, jobs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = get_settings()
    cfg = Config(max_instances=max_instances, target_latency_s=target_latency,
                 boot_s=boot_delay if provider == "local" else Config.boot_s,
                 slots=1 if provider == "local" else settings.concurrency)
    say = lambda line: out.print(line, highlight=False, markup=False)  # noqa: E731
    controller = Controller(_provider(provider, max_instances, boot_delay), cfg, interval_s=interval, say=say)
    upkeep = Janitor(jobs(settings), say=say) if janitor else None
    if once:
        controller.step()
        if upkeep:
            upkeep.tick()
        return
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if upkeep:
        threading.Thread(target=upkeep.run, args=(stop,), name="irs-janitor", daemon=True).start()
    controller.run(stop)


def _provider(name: str, max_instances: int, boot_delay: float) -> Any:
    settings = get_settings()
    if name == "local":
        from irs.autoscale.providers.local import LocalProvider

        return LocalProvider(Path(".irs"), boot_delay_s=boot_delay, max_hosts=max_instances)
    from irs.autoscale.providers.ec2 import Ec2Provider, LaunchSpec, fleet_of

    if not (settings.ec2_image_id or settings.ec2_launch_template):
        raise click.UsageError("set IRS_EC2_IMAGE_ID or IRS_EC2_LAUNCH_TEMPLATE for the ec2 provider")
    worker_env = {f"IRS_{k.upper()}": str(v) for k, v in settings.model_dump().items()
                  if k in ("region", "queue_prefix", "input_bucket", "results_bucket", "model", "endpoint_url")
                  and v is not None}
    spec = LaunchSpec(image_id=settings.ec2_image_id, launch_template=settings.ec2_launch_template,
                      instance_type=settings.ec2_instance_type, subnet_id=settings.ec2_subnet_id,
                      security_group_ids=tuple(g for g in settings.ec2_security_group_ids.split(",") if g),
                      instance_profile=settings.ec2_instance_profile, worker_env=worker_env)
    return Ec2Provider(spec, fleet_of(settings.queue_prefix), max_hosts=max_instances, concurrency=settings.concurrency)


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
    from irs.autoscale.policy import Config
    from irs.autoscale.sim.baselines import all_policies
    from irs.autoscale.sim.simulate import simulate, traces
    from irs.autoscale.sim.timeline import draw

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
