"""``irs model``: the Darknet models IRS knows, where they are installed, and fetching them."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress
from rich.table import Table

from irs.cli.output import err, out


@click.group()
def model() -> None:
    """List and fetch the Darknet models."""


@model.command("list")
@click.option("--speed/--no-speed", default=True, show_default=True,
              help="Load each installed model on this machine's runtime and time it (about a second each).")
def model_list(speed: bool) -> None:
    """Every known model, where it is installed, the runtime it runs on here, and how fast."""
    from irs.settings import get_settings
    from irs.worker.models import REGISTRY, find_dir

    table = Table("name", "kind", "input", "weights", "installed at", "runtime", "ms/image", "notes")
    with err.status("timing the installed models") if speed else nullcontext():
        for spec in REGISTRY.values():
            where = find_dir(spec)
            runtime, ms = _timed(spec.name) if speed and where else ("", "")
            table.add_row(spec.name, spec.kind, str(spec.input_size), f"{spec.weights.size / 1e6:.1f} MB",
                          str(where) if where else "[dim]not installed[/]", runtime, ms, spec.notes)
    out.print(table)
    out.print(f"[dim]IRS_RUNTIME={get_settings().runtime}; ms/image: median of 10 recognitions of a blank image "
              "(pre- and post-processing included), after warming up, with IRS_CV_THREADS threads[/]")


def _timed(name: str) -> tuple[str, str]:
    """The runtime this model gets here, and its median time per image."""
    import statistics
    import time

    import numpy as np

    from irs.worker.recognition import load

    recognizer = load(name)
    pixels = np.zeros((recognizer.input_size, recognizer.input_size, 3), dtype=np.uint8)
    recognizer(pixels)
    times = []
    for _ in range(10):
        start = time.perf_counter()
        recognizer(pixels)
        times.append((time.perf_counter() - start) * 1000)
    return recognizer.runtime.name, f"{statistics.median(times):.1f}"


@model.command("fetch")
@click.argument("name")
@click.option("--url-base", help="Download every file from this base URL (a mirror) instead.")
def model_fetch(name: str, url_base: str | None) -> None:
    """Download a model into the cache, checking each file's size and sha256."""
    from irs.worker.models import ModelError, fetch

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
