"""``irs web``: the web app and the REST API; ``irs web token``: who may use them."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from irs.cli.output import out
from irs.settings import get_settings


@click.group(invoke_without_command=True)
@click.option("--host", help="Address to listen on [default: IRS_WEB_HOST, 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [default: IRS_WEB_PORT, 8080].")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web app and the REST API (the upload page, /status, /api/v1, /docs).

    Beyond loopback, every request needs an API token (`irs web token create`)."""
    if ctx.invoked_subcommand:
        return
    import uvicorn

    settings = get_settings()
    uvicorn.run("webapp.app:create_app", factory=True, host=host or settings.web_host,
                port=port or settings.web_port, log_level="info", access_log=False)


@web.group()
def token() -> None:
    """API tokens: stored only as their hash, in the results bucket."""


def _limit_options(command: Any) -> Any:
    """``--max-waiting`` and ``--images-per-day``, as the commands that set a token's quotas take them."""
    limit = click.IntRange(min=1)
    command = click.option("--images-per-day", type=limit, help="Images it may send in a UTC day; past them, "
                           "429 until the next day.")(command)
    return click.option("--max-waiting", type=limit, help="Images it may have sent and not yet answered; past "
                        "them, 429 until some are answered.")(command)


@token.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="It sees everyone's images and results, not only its own.")
@_limit_options
def token_create(name: str, admin: bool, max_waiting: int | None, images_per_day: int | None) -> None:
    """Make a token for NAME (who owns what it uploads) and print it: it is shown this once. Without limits, only
    the service's own (IRS_WEB_MAX_BACKLOG) apply to it."""
    from webapp.tokens import Limits, TokenError, create

    try:
        click.echo(create(name, admin, Limits(max_waiting=max_waiting, images_per_day=images_per_day)))
    except TokenError as error:
        raise click.ClickException(str(error)) from None


@token.command("limit")
@click.argument("name")
@_limit_options
def token_limit(name: str, max_waiting: int | None, images_per_day: int | None) -> None:
    """Set NAME's quotas (a limit not given is removed); web processes apply them within 10 s."""
    from webapp.tokens import Limits, limit

    if not limit(name, Limits(max_waiting=max_waiting, images_per_day=images_per_day)):
        raise click.ClickException(f"no token named {name}")
    click.echo(f"{name}: at most {max_waiting or 'any number of'} images waiting, "
               f"{images_per_day or 'any number of'} a day")


@token.command("list")
def token_list() -> None:
    """Every token's name, role and age (never the token)."""
    import time

    from webapp.tokens import listing

    table = Table("name", "role", "made", "max waiting", "images a day")
    for found in listing():
        table.add_row(found.name, "admin" if found.admin else "user",
                      time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(found.created_at)),
                      str(found.limits.max_waiting or "-"), str(found.limits.images_per_day or "-"))
    out.print(table)


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke NAME's tokens; web processes refuse them within 10 s."""
    from webapp.tokens import revoke

    gone = revoke(name)
    if not gone:
        raise click.ClickException(f"no token named {name}")
    click.echo(f"revoked {gone} token(s) named {name}")


@web.command("erase")
@click.argument("owner")
@click.option("--yes", is_flag=True, help="Erase without asking first.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def erase(owner: str, yes: bool, as_json: bool) -> None:
    """Erase everything OWNER sent: its uploads, every result document naming it, its jobs' records and manifests
    (objects in a bucket of the user's own stay). Every result document not uploaded through the web is read to
    find its owner. Prints what was deleted."""
    import json
    from dataclasses import asdict

    from webapp.erasure import erase_owner

    if not yes:
        click.confirm(f"Erase every image and result of {owner}, for good?", abort=True)
    with out.status(f"erasing {owner}") as status:
        report = erase_owner(owner, progress=lambda what: status.update(f"erasing {what}"))
    if as_json:
        click.echo(json.dumps({"owner": owner, **asdict(report)}))
        return
    out.print(f"erased {owner}: {report.images} images, {report.results} result documents, "
              f"{len(report.jobs)} jobs ({', '.join(report.jobs) or 'none'}; {report.job_files} files)")
