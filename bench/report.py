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

    table = Table(*rows[0].keys(), title=title)
    for row in rows:
        table.add_row(*(json.dumps(v) if isinstance(v, dict) else str(v) for v in row.values()))
    Console().print(table)
