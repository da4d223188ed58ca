"""``irs up`` and ``irs emulator``: the local stack, or only its AWS emulator."""

from __future__ import annotations

from pathlib import Path

import click

from irs.cli.output import say, show


@click.command()
@click.option("--port", default=4566, show_default=True)
def emulator(port: int) -> None:
    """Run only the local AWS emulator on 127.0.0.1."""
    from irs.aws.emulator import serve

    serve("127.0.0.1", port)


@click.command()
@click.option("-c", "--concurrency", type=int, help="Worker processes (default IRS_CONCURRENCY).")
@click.option("--demo-dir", type=click.Path(file_okay=False, path_type=Path), envvar="IRS_DEMO_IMAGES",
              help="Images the demo classifies [env IRS_DEMO_IMAGES].")
@click.option("--demo/--no-demo", default=True, show_default=True, help="Classify the demo images at start.")
@click.option("--boot-delay", default=5.0, show_default=True, help="Seconds an autoscaled local host takes to boot.")
@click.option("--edge-floor-ms", default=1500.0, show_default=True,
              help="The emulated edge worker takes at least this long per image, like a Raspberry Pi.")
def up(concurrency: int | None, demo_dir: Path | None, demo: bool, boot_delay: float, edge_floor_ms: float) -> None:
    """Run the whole local stack until Ctrl-C: emulator, queues, buckets, the cloud and an emulated edge
    worker, the autoscaler, the web app, Flower, a demo."""
    from irs.local.up import Options, run

    run(Options(concurrency, demo_dir, demo, boot_delay, edge_floor_ms), say,
        lambda documents, advance: show(documents, False, advance))
