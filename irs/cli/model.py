"""``irs model``: the Darknet models IRS knows, where they are installed, and fetching them."""

from __future__ import annotations

from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress
from rich.table import Table

from irs.cli.output import err, out


@click.group()
def model() -> None:
    """List and fetch the Darknet models."""


@model.command("list")
def model_list() -> None:
    """Every known model, and where it is installed."""
    from irs.worker.models import REGISTRY, find_dir

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
