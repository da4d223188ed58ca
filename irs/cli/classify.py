"""``irs classify``: upload images (or name objects already in S3), classify them on the workers, print each result
as it arrives;
``irs results``: collect a batch's results later."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from irs.cli.output import err, say, show
from irs.cli.params import DURATION, owner_option, table_options
from irs.cli.status_codes import Exit, exit_of, outcome
from irs.image_files import expand

if TYPE_CHECKING:
    from irs.client import Submitted


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one result document per line on stdout.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for all results.")
@click.option("--model", help="A built-in model installed on the workers, or a repository model: NAME (its latest "
                              "version, fixed when sent) or NAME@VERSION. The deployment's default when not given.")
@click.option("--deadline", type=DURATION,
              help="An image no worker has started this long after it was sent (90, 30m, 2h) is not classified: "
                   "its result is an error of kind expired.")
@owner_option
def classify(paths: tuple[str, ...], as_json: bool, timeout: float, model: str | None,
             deadline: float | None, owner: str | None) -> None:
    """Upload images, classify them on the workers, and print each result as it arrives.

    PATHS are image files, directories of them, or s3://BUCKET/KEY objects already in a bucket this
    deployment reads (IRS_SOURCE_BUCKETS), which are classified where they are. If it stops before
    every result is in (Ctrl-C, the timeout, AWS out of reach), it says which batch of uploads to
    collect later with `irs results BATCH`. Exits 0 when every image was answered ok, 1 when every
    image was answered and some with an error, 3 when some were not answered (stopped early, or
    dead-lettered).
    """
    from irs.aws.clients import AWS_OR_NETWORK_ERRORS
    from irs.client import collect, new_batch, submit_files, submit_objects
    from irs.repository.store import NotFound

    files, objects = _inputs(paths)
    batch = new_batch()
    patience = time.monotonic() + timeout  # for the submission; the results then have `timeout` more
    submitted: list[Submitted] = []
    total = len(files) + len(objects)
    try:
        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True, disable=total < 2) as bar:
            sent = bar.add_task("sending", total=total)

            def on_submitted(item: Submitted) -> None:
                submitted.append(item)
                bar.advance(sent)

            requests = submit_files(files, batch=batch, on_submitted=on_submitted, deadline=patience, model=model,
                                    expires=deadline, owner=owner) if files else []
            requests += submit_objects(objects, on_submitted=on_submitted, deadline=patience, model=model,
                                       expires=deadline, owner=owner)
            done = bar.add_task("classifying", total=total)
            outcomes = show(collect(requests, timeout), as_json, lambda: bar.advance(done))
    except NotFound as error:  # no such model: refused before anything was uploaded
        raise click.UsageError(str(error)) from None
    except (KeyboardInterrupt, TimeoutError, *AWS_OR_NETWORK_ERRORS) as error:
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        uploaded = sum(isinstance(item.path, Path) for item in submitted)
        say(f"stopped before every result was in ({reason}). {uploaded} of {len(files)} images were "
            f"submitted as batch {batch}: collect them with `irs results {batch}`"
            + (f"; {len(submitted) - uploaded} of {len(objects)} objects already in S3 were sent, and their "
               "results are under their own keys" if objects else ""))
        sys.exit(Exit.UNFINISHED)
    sys.exit(exit_of(outcomes, finished=True))


def _inputs(paths: tuple[str, ...]) -> tuple[list[Path], list[str]]:
    """The image files PATHS name (directories searched), and the s3:// objects, each checked before anything is
    sent: a file that does not exist, or an object outside the deployment's sources, is a usage error."""
    from irs.settings import get_settings
    from irs.sources import BadLocation, is_url, readable

    objects = [path for path in paths if is_url(path)]
    for url in objects:
        try:
            readable(url, get_settings().sources)
        except BadLocation as error:
            raise click.BadParameter(str(error), param_hint="PATHS") from None
    local = [Path(path) for path in paths if not is_url(path)]
    missing = [str(path) for path in local if not path.exists()]
    if missing:
        raise click.BadParameter(f"{missing[0]!r} does not exist", param_hint="PATHS")
    files = expand(local)
    if not files and not objects:
        raise click.UsageError("no image files found in the given paths")
    return files, objects


@click.command()
@click.argument("batch")
@click.option("--json", "as_json", is_flag=True, help="Print one result document per line on stdout.")
@click.option("--wait", default=0.0, show_default=True, help="Seconds to wait for results still due.")
@click.option("--export", "export_to", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the results as a table to this file instead of printing them.")
@table_options
def results(batch: str, as_json: bool, wait: float, export_to: Path | None, fmt: str | None, per: str) -> None:
    """The results of BATCH, as `irs classify` names it (for one that stopped before they were all in).

    With --export, they are written as a table (the columns are in the reference) that DuckDB, pandas or
    Athena read. Exits 0 when every image was answered ok, 1 when every image was answered and some
    with an error, 3 when some results are still due (or were dead-lettered).
    """
    from irs.client import BATCH, batch_results
    from irs.export import format_of

    try:
        table_format = format_of(export_to, fmt) if export_to else None
    except ValueError as error:
        raise click.UsageError(str(error)) from None

    if not BATCH.fullmatch(batch):
        raise click.UsageError(f"{batch!r} is not a batch name (like 20261202-3f2a9c0b1d4e)")
    deadline = time.monotonic() + wait
    documents, uploaded = batch_results(batch)
    while len(documents) < uploaded and time.monotonic() < deadline:
        time.sleep(1)
        documents, uploaded = batch_results(batch)
    if not uploaded:
        raise click.ClickException(f"no images in batch {batch} (uploads expire after IRS_UPLOAD_TTL_DAYS)")
    if export_to and table_format:
        from irs.export import Per, rows, write
        from irs.results import ResultDocument

        parsed = [ResultDocument.model_validate(document) for document in documents]
        row_kind = cast(Per, per)  # click allowed only Per's values
        written = write(rows(parsed, row_kind), export_to, table_format, row_kind)
        say(f"wrote {written} rows ({len(parsed)} images, a row per {per}) to {export_to}")
        outcomes = [outcome(document) for document in documents]
    else:
        outcomes = show(documents, as_json, lambda: None)
    if len(documents) < uploaded:
        say(f"{len(documents)} of {uploaded} results are in; ask again later, or with --wait")
    sys.exit(exit_of(outcomes, finished=len(documents) >= uploaded))
