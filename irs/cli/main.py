"""The ``irs`` command: one group, each command in the module named for it."""

from __future__ import annotations

import click

from irs.cli.autoscale import autoscale
from irs.cli.classify import classify, results
from irs.cli.deploy import deploy, provision, teardown
from irs.cli.edge import edge
from irs.cli.job import job, watch
from irs.cli.local import emulator, up
from irs.cli.model import model
from irs.cli.status import status
from irs.cli.usage import usage
from irs.cli.web import web
from irs.cli.worker import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="irs")
def main() -> None:
    """IRS, Image Recognition as a Service.

    Configuration comes from IRS_* environment variables and the irs.env file
    that `irs up` writes; `make docs` builds the documentation, whose reference
    lists every setting.
    """


for command in (classify, results, job, watch, status, usage, provision, model, edge, web, deploy, teardown, autoscale,
                emulator, up, worker):
    main.add_command(command)
