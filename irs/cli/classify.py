"""``irs classify``: upload images, classify them on the workers, print each result as it arrives."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from irs.cli.output import err, show
from irs.image_files import expand


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one result document per line on stdout.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for all results.")
def classify(paths: tuple[Path, ...], as_json: bool, timeout: float) -> None:
    """Upload images, classify them on the workers, and print each result as it arrives.

    PATHS are image files or directories of them. Exits 1 if any image could not be classified.
    """
    from irs.client import collect, submit_files

    files = expand(paths)
    if not files:
        raise click.UsageError("no image files found in the given paths")
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=len(files) < 2) as bar:
        sent = bar.add_task("uploading", total=len(files))
        submitted = submit_files(files, on_submitted=lambda _: bar.advance(sent))
        done = bar.add_task("classifying", total=len(files))
        failed = show(collect(submitted, timeout), as_json, lambda: bar.advance(done))
    if failed:
        sys.exit(1)
