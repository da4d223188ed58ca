"""How every benchmark prints its rows: a JSON list with --json, a table otherwise."""

from __future__ import annotations

import json
from typing import Any


def emit(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:  # rows of different columns go to tables of their own
        shapes.setdefault(tuple(row), []).append(row)
    for columns, alike in shapes.items():
        table = Table(*columns, title=title)
        for row in alike:
            table.add_row(*(json.dumps(v) if isinstance(v, dict) else str(v) for v in row.values()))
        Console().print(table)


def emit_result(result: dict[str, Any], as_json: bool, name: str) -> None:
    """A benchmark's one result: as JSON (indented), or as a table of measures and values."""
    if as_json:
        print(json.dumps(result, indent=2))
        return
    emit([{"measure": k, "value": v} for k, v in result.items()], False, f"IRS {name} benchmark ({result['date']})")
