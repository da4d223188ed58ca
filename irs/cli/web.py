"""``irs web``: the web app and the REST API."""

from __future__ import annotations

import click

from irs.settings import get_settings


@click.command()
@click.option("--host", help="Address to listen on [default: IRS_WEB_HOST, 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [default: IRS_WEB_PORT, 8080].")
def web(host: str | None, port: int | None) -> None:
    """Serve the web app and the REST API (the upload page, /status, /api/v1, /docs)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("webapp.app:create_app", factory=True, host=host or settings.web_host, port=port or settings.web_port,
                log_level="info", access_log=False)
