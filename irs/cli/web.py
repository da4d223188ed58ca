"""``irs web``: the web app and the REST API; ``irs web token``: who may use them."""

from __future__ import annotations

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


@token.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="It sees everyone's images and results, not only its own.")
def token_create(name: str, admin: bool) -> None:
    """Make a token for NAME (who owns what it uploads) and print it: it is shown this once."""
    from webapp.tokens import TokenError, create

    try:
        click.echo(create(name, admin))
    except TokenError as error:
        raise click.ClickException(str(error)) from None


@token.command("list")
def token_list() -> None:
    """Every token's name, role and age (never the token)."""
    import time

    from webapp.tokens import listing

    table = Table("name", "role", "made")
    for found in listing():
        table.add_row(found.name, "admin" if found.admin else "user",
                      time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(found.created_at)))
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
