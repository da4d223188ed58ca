"""``irs status``: each pool's queue, workers and share; or where one request went and why."""

from __future__ import annotations

import json

import click
from rich.table import Table

from irs.cli.output import out


@click.command()
@click.argument("request_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(request_id: str | None, as_json: bool) -> None:
    """Per pool: queue, workers and the share of images each served; or, given REQUEST_ID, where that
    request went and why."""
    if request_id:
        _request_status(request_id, as_json)
        return
    from rich.markup import escape

    from irs.fleet.status import pool_status
    from irs.settings import get_settings

    pools = pool_status()
    if as_json:
        out.print_json(json.dumps([p.as_dict() for p in pools]))
        return
    total = sum(p.served for p in pools) or 1
    table = Table("pool", "waiting", "in flight", "delayed", "dead-lettered", "workers (busy)", "served (share)",
                  "ms per image", "default model", "models held")
    for p in pools:
        table.add_row(p.pool, str(p.waiting), str(p.in_flight), str(p.delayed), str(p.dead_lettered),
                      f"{p.workers} ({p.busy_workers})", f"{p.served} ({p.served / total:.0%})",
                      f"{p.service_ms:.0f}" if p.service_ms else "-", ", ".join(p.default_models) or "-",
                      ", ".join(p.models) or "-")
    out.print(table)
    out.print(f"[dim]served: images finished by the pool's live workers since they started. A request that names "
              f"no model is sent naming this deployment's, {escape(get_settings().model)}, and goes only to a pool "
              f"whose workers hold it.[/]")


def _request_status(request_id: str, as_json: bool) -> None:
    from irs.aws import documents
    from irs.results import ResultDocument, result_key

    document = documents.read(result_key(request_id), ResultDocument)
    if document is None:
        raise click.ClickException(f"no valid result for {request_id} yet")
    if as_json:
        out.print_json(document.model_dump_json(exclude_unset=True))
        return
    routing = document.routing
    lines = [f"{document.image_key}: {document.status}, served by {document.pool} ({document.worker})",
             f"routed to {routing.pool}: {routing.reason}" if routing else "no routing decision recorded"]
    if routing and routing.expected_s:
        lines.append("expected seconds: " + ", ".join(f"{k} {v}" for k, v in routing.expected_s.items()))
    for line in lines:
        out.print(line, highlight=False, markup=False)  # what a document says is data, never markup
