"""``irs worker``: a Celery worker as the settings describe it (what systemd units on EC2 and the Pi run)."""

from __future__ import annotations

import os

import click

from irs.settings import get_settings


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--print", "print_only", is_flag=True, help="Print the command instead of running it.")
@click.option("--print-sandbox", is_flag=True, help="Print the systemd settings that confine a worker (what "
              "the installers put in its unit).")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def worker(print_only: bool, print_sandbox: bool, extra: tuple[str, ...]) -> None:
    """Run `celery -A irs worker` for this host's pool (IRS_POOL_NAME; on an edge device also its own
    queue), IRS_CONCURRENCY processes, named after IRS_INSTANCE_ID. EXTRA arguments go to celery."""
    import shlex

    from irs.worker import command

    if print_sandbox:
        click.echo(command.SANDBOX)
        return
    argv = command.from_settings(get_settings(), extra)
    if print_only:
        click.echo(shlex.join(argv))
        return
    os.execv(argv[0], argv)
