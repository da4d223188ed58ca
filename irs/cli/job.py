"""``irs job``: classify what is already in S3, a whole prefix, with progress, a deadline, notices and a table
of results; ``irs watch``: classify every new object under a prefix as it lands."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from irs.cli.output import err, out, say
from irs.cli.params import DURATION, owner_option, table_options
from irs.cli.status_codes import Exit, exit_of

if TYPE_CHECKING:
    from irs.jobs.progress import Progress as JobProgress



def _problems() -> tuple[type[Exception], ...]:
    from irs.jobs.record import BadJob
    from irs.repository.store import NotFound

    return BadJob, NotFound


@click.group()
def job() -> None:
    """Classify every image under an S3 prefix, and follow it: start, status, wait, export, list."""


@job.command()
@click.argument("source")
@click.option("--name", help="The job's name (lower-case letters, digits, dashes); by default one made from the "
                             "source, so the same command resumes it.")
@click.option("--model", help="A built-in model, or a repository model NAME[@VERSION]; the workers' default when "
                              "not given.")
@click.option("--deadline", type=DURATION, help="An image no worker has started this long after the job began "
                                                "(90, 30m, 2h, 1d) is not classified: its result is an error of "
                                                "kind expired.")
@click.option("--suffix", "suffixes", multiple=True, help="Only keys ending so (repeatable) [default: the image "
                                                          "suffixes IRS reads, any case].")
@click.option("--max-bytes", type=click.IntRange(min=1), help="Skip objects larger than this [default: "
                                                              "IRS_MAX_IMAGE_BYTES].")
@click.option("--yes", is_flag=True, help="Start without listing first to say what it will cost.")
@click.option("--json", "as_json", is_flag=True, help="Print the job's record as JSON when it has been sent.")
@owner_option
def start(source: str, name: str | None, model: str | None, deadline: float | None, suffixes: tuple[str, ...],
          max_bytes: int | None, yes: bool, as_json: bool, owner: str | None) -> None:
    """Classify every image under SOURCE (s3://BUCKET/PREFIX): list it, say how many images and what they will
    cost, then send them. Run again after an interruption, it resumes where it stopped."""
    from irs.aws.clients import AWS_OR_NETWORK_ERRORS
    from irs.jobs import run
    from irs.jobs.listing import DEFAULT_SUFFIXES

    chosen = tuple(s.lower() for s in suffixes) or DEFAULT_SUFFIXES
    try:
        if not yes:
            _confirm(source, chosen, max_bytes)
        with Progress(TextColumn("{task.description}"), TextColumn("{task.completed:,} sent"), console=err,
                      transient=True) as bar:
            sending = bar.add_task("listing and sending", total=None)
            job = run.start(source, name, model, deadline, chosen, max_bytes,
                            on_page=lambda record: bar.update(sending, completed=record.enqueued), owner=owner)
    except _problems() as error:
        raise click.ClickException(str(error)) from None
    except (KeyboardInterrupt, *AWS_OR_NETWORK_ERRORS) as error:
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        say(f"stopped before every image was sent ({reason}); the same command resumes after the last page sent")
        sys.exit(2)
    if as_json:
        out.print_json(job.model_dump_json())
    skipped = ", ".join(f"{count} {why}" for why, count in job.skipped.items()) or "none"
    say(f"job {job.name}: {job.enqueued:,} images sent of {job.listed:,} objects listed (skipped: {skipped}). "
        f"Follow it with `irs job status {job.name}` or `irs job wait {job.name}`")


def _confirm(source: str, suffixes: tuple[str, ...], max_bytes: int | None) -> None:
    from irs.autoscale.policy import Config
    from irs.jobs import cost, run
    from irs.settings import get_settings

    with Progress(TextColumn("listing {task.fields[listed]:,} objects, {task.fields[images]:,} images"),
                  console=err, transient=True) as bar:
        counting = bar.add_task("", total=None, listed=0, images=0)
        listed, images = run.count(source, suffixes, max_bytes,
                                   on_page=lambda n, i: bar.update(counting, listed=n, images=i))
    settings = get_settings()
    guess = cost.estimate(images, settings, max_hosts=Config.max_instances)
    say(f"{source}: {listed:,} objects, {images:,} of them images to classify.")
    say(f"Estimated cost: ${guess.total_usd:,.2f} (requests ${guess.requests_usd:,.2f}; "
        f"{guess.instance_hours:,.2f} host-hours at ${settings.ec2_usd_per_hour}/h, ${guess.instance_usd:,.2f}); "
        f"about {_span(guess.hours_at_cap * 3600)} on {Config.max_instances} hosts once booted.")
    if not images:
        raise click.ClickException("nothing to classify")
    if not click.confirm("Start?", err=True):
        raise click.Abort


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _measure(name: str) -> JobProgress:
    from irs.jobs.progress import measure

    try:
        return measure(name)
    except _problems() as error:
        raise click.ClickException(str(error)) from None


def _line(progress: JobProgress) -> str:
    errors = ", ".join(f"{n} {kind}" for kind, n in sorted(progress.errors.items())) or "none"
    job, rate = progress.job, progress.rate()
    left = f", about {_span(progress.remaining / rate)} left" if rate > 0 and progress.remaining else ""
    return (f"job {job.name} ({job.state}): {progress.done:,} of {job.enqueued:,} done ({progress.ok:,} ok; errors: "
            f"{errors}); {progress.remaining:,} waiting or in flight; {rate:.1f} images/s{left}")


@job.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the progress as JSON.")
def status(name: str, as_json: bool) -> None:
    """How far job NAME has got: done, errors, waiting or in flight; its rate and the time left."""
    progress = _measure(name)
    if as_json:
        out.print_json(progress.summary().model_dump_json())
    else:
        out.print(_line(progress), highlight=False, markup=False)


@job.command()
@click.argument("name")
@click.option("--timeout", type=DURATION, help="Give up after this long (exit 3) [default: never].")
@click.option("--errors-ok", is_flag=True, help="Exit 0 when every image was answered, errors included (a "
              "non-image, a missing object): for `irs job wait NAME --errors-ok && irs job export NAME ...`.")
def wait(name: str, timeout: float | None, errors_ok: bool) -> None:
    """Wait until every image of job NAME has its document, with a progress bar.

    Exits 0 when every image was answered ok, 1 when every image was answered and some with an error
    (unless --errors-ok), 3 when some were not answered (the timeout, a dead-lettered request, a failed
    job).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    progress = _measure(name)
    with Progress(TextColumn(f"job {name}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[errors]}"),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("", total=progress.job.enqueued or None, errors="")
        while not progress.complete and progress.job.state != "failed":
            if deadline is not None and time.monotonic() > deadline:
                say(_line(progress))
                sys.exit(Exit.UNFINISHED)
            time.sleep(2)
            progress = _measure(name)
            bar.update(task, total=progress.job.enqueued, completed=progress.done,
                       errors=f"{sum(progress.errors.values())} errors" if progress.errors else "")
    out.print(_line(progress), highlight=False, markup=False)
    sys.exit(exit_of(progress.errors, finished=progress.job.state != "failed", errors_ok=errors_ok))


@job.command()
@click.argument("name")
@click.option("-o", "--output", "path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write.")
@table_options
def export(name: str, path: Path, fmt: str | None, per: str) -> None:
    """Write job NAME's results as a table (the columns are in the reference) that DuckDB, pandas or Athena read."""
    from irs.export import Per, format_of, rows, write
    from irs.jobs.progress import results

    try:
        written = write(rows(results(name), cast(Per, per)), path, format_of(path, fmt), cast(Per, per))
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    say(f"wrote {written:,} rows (a row per {per}) to {path}")


@job.command(name="list")
def list_jobs() -> None:
    """Every job, with its progress."""
    from irs.jobs.record import names

    for name in names():
        out.print(_line(_measure(name)), highlight=False, markup=False)


@click.command()
@click.argument("source", required=False)
@click.option("--suffix", default="", help="Only keys ending so (.jpg), as S3's filter matches: case counts.")
@click.option("--stop", is_flag=True, help="Stop watching SOURCE (with the same --suffix).")
@click.option("--list", "listing", is_flag=True, help="List IRS's watches on the source buckets.")
def watch(source: str | None, suffix: str, stop: bool, listing: bool) -> None:
    """Classify every new object under SOURCE (s3://BUCKET/PREFIX) as it lands, until stopped with --stop.

    S3 announces each new object to IRS's watch queue; the janitor, beside the autoscaler, sends it on. The
    bucket's other notifications are kept; where S3 cannot take one more, the watch is refused with its reason.
    """
    from irs.jobs import watch as watches
    from irs.jobs.record import BadJob

    if listing:
        for found in watches.watches():
            out.print(str(found), highlight=False, markup=False)
        return
    if not source:
        raise click.UsageError("say which s3://BUCKET/PREFIX to watch (or --list)")
    try:
        if stop:
            say(f"stopped watching {source}" if watches.remove(source, suffix) else f"{source} was not watched")
            return
        found, new = watches.add(source, suffix)
    except BadJob as error:
        raise click.ClickException(str(error)) from None
    say(f"watching {found}: each new object is classified, its result under results/s3://{found.bucket}/{found.prefix}..."
        if new else f"already watching {found}")
