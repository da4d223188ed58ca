"""``irs usage``: what each owner used, per day or per month, from the janitor's daily rollups."""

from __future__ import annotations

import re

import click
from rich.table import Table

from irs.cli.output import out


@click.command()
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True,
              help="The last N UTC days, today included.")
@click.option("--month", help="A whole month instead, YYYY-MM (up to today).")
@click.option("--owner", help="Only this owner.")
@click.option("--per-day", is_flag=True, help="A row per owner and day, instead of one per owner.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def usage(days: int, month: str | None, owner: str | None, per_day: bool, as_json: bool) -> None:
    """Images, errors by kind, worker CPU and estimated cost per owner, as the janitor (run by `irs autoscale`)
    rolls them up every 10 minutes into usage/day=YYYY-MM-DD/usage.parquet in the results bucket: DuckDB reads
    them as one table (SELECT * FROM 's3://BUCKET/usage/*/*.parquet')."""
    import json

    from irs import usage as rolled
    from irs.settings import get_settings

    if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.BadParameter(f"{month!r} is not a month: YYYY-MM", param_hint="--month")
    span = rolled.span(days=days, month=month)
    rows = [row for row in rolled.read(span) if owner in (None, row.owner)]
    settings = get_settings()
    groups = {day: [r for r in rows if r.day == day] for day in sorted({r.day for r in rows})} if per_day \
        else {f"{span[0]} to {span[-1]}": rows}
    found = [{"span": name, **total.model_dump()} for name, group in groups.items()
             for total in rolled.totals(group, settings)]
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        out.print(f"no usage rolled up for {span[0]} to {span[-1]} (the janitor, run by `irs autoscale`, rolls "
                  "it up every 10 minutes)")
        return
    table = Table("day" if per_day else "days", "owner", "images", "errors", "CPU s", "est. USD", "pools")
    for row in found:
        errors = ", ".join(f"{kind} {count}" for kind, count in sorted(row["errors"].items())) or "-"
        pools = ", ".join(f"{pool} {count}" for pool, count in sorted(row["by_pool"].items()))
        table.add_row(row["span"], row["owner"], f"{row['images']:,}", errors, f"{row['cpu_s']:.1f}",
                      f"{row['usd']:.4f}", pools)
    out.print(table)
