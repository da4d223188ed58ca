"""``irs model``: the Darknet models IRS knows, where they are installed, fetching them, and the repository of
a team's own models (add, list, remove)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress
from rich.table import Table

from irs.cli.output import err, out


@click.group()
def model() -> None:
    """List, fetch, add and remove Darknet models."""


@model.command("list")
@click.option("--speed/--no-speed", default=True, show_default=True,
              help="Load each installed model on this machine's runtime and time it (about a second each).")
def model_list(speed: bool) -> None:
    """Every known model, where it is installed, the runtime it runs on here, and how fast."""
    from irs.inference.registry import REGISTRY, find_dir
    from irs.settings import get_settings

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
    _repository_table()


def _repository_table() -> None:
    """The repository's models and their versions, newest last; a note instead when it cannot be read."""
    from irs.aws.clients import AWS_OR_NETWORK_ERRORS
    from irs.repository.manifest import PREFIX
    from irs.repository.store import latest, versions
    from irs.settings import get_settings

    try:
        stored = versions(get_settings())
    except AWS_OR_NETWORK_ERRORS as error:
        out.print(f"[dim]repository (s3://{get_settings().results_bucket}/{PREFIX}): not readable: {error}[/]")
        return
    table = Table("name", "version", "kind", "input", "labels", "weights", "added", title="repository")
    newest = latest(stored)
    for manifest in stored:
        mark = " (latest)" if newest[manifest.name] == manifest.version else ""
        table.add_row(manifest.name, manifest.short + mark, manifest.kind, str(manifest.input_size),
                      str(len(manifest.labels)), f"{manifest.files['weights'].size / 1e6:.1f} MB",
                      manifest.added_at[:19])
    out.print(table if stored else "[dim]repository: no models added (irs model add)[/]")


def _timed(name: str) -> tuple[str, str]:
    """The runtime this model gets here, and its median time per image."""
    import statistics
    import time

    import numpy as np

    from irs.inference.recognition import load

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
    from irs.inference.registry import ModelError, fetch

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


@model.command("add")
@click.argument("name")
@click.option("--cfg", "cfg", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--weights", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--names", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="One label per line, as many as the model has classes.")
@click.option("--kind", type=click.Choice(["detector", "classifier"]), help="Checked against the cfg.")
@click.option("--input-size", type=int, help="The network's input side; the cfg's width by default.")
def model_add(name: str, cfg: Path, weights: Path, names: Path, kind: str | None, input_size: int | None) -> None:
    """Check a Darknet model (load it, run it once) and store it in the repository as a new version of NAME."""
    from irs.repository.check import Refused, check
    from irs.repository.store import add
    from irs.settings import get_settings

    settings = get_settings()
    try:
        with err.status(f"checking {name}: converting and running it once"):
            manifest = check(name, cfg, weights, names, settings, kind=kind, input_size=input_size)
    except Refused as error:
        raise click.ClickException(f"refused: {error}") from None
    with err.status("uploading") as status:
        added = add(manifest, {"cfg": cfg, "weights": weights, "names": names}, settings, progress=status.update)
    state = "added" if added else "already there, unchanged"
    out.print(f"{manifest.ref} {state}: {manifest.kind}, input {manifest.input_size}, {len(manifest.labels)} labels. "
              f"Use it as --model {manifest.name} (the latest) or --model {manifest.ref}.")


@model.command("remove")
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--all-versions", is_flag=True, help="With a bare NAME: remove every version, not only the latest.")
def model_remove(ref: str, all_versions: bool) -> None:
    """Remove a version of a model from the repository (the latest, unless pinned with @VERSION)."""
    from irs.contract import split_ref
    from irs.repository.store import NotFound, find, remove, versions
    from irs.settings import get_settings

    settings = get_settings()
    try:
        doomed = versions(settings, split_ref(ref)[0]) if all_versions else [find(ref, settings)]
    except NotFound as error:
        raise click.ClickException(str(error)) from None
    if not doomed:
        raise click.ClickException(f"no model {ref!r} in the repository")
    for manifest in doomed:
        remove(manifest, settings)
        out.print(f"removed {manifest.ref}")
    err.print("[dim]Requests already sent for it: a worker process that holds it loaded still answers them; any "
              "other answers each with an error result (model_unavailable) naming it.[/]")
