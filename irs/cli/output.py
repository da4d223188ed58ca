"""What every command prints with: the two consoles, and a result document as a person reads it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape

from irs.cli.status_codes import outcome

err = Console(stderr=True)
out = Console(soft_wrap=True)


def say(line: str) -> None:
    """A progress line on stderr, printed as it is (no markup read into it)."""
    err.print(line, highlight=False, markup=False, soft_wrap=True)


def show(documents: Iterable[dict[str, Any]], as_json: bool, advance: Callable[[], None]) -> list[str]:
    """Print each document as it arrives; returns each one's outcome ("ok" or its error kind)."""
    outcomes = []
    for document in documents:
        outcomes.append(outcome(document))
        advance()
        if as_json:
            out.print_json(json.dumps(document), indent=None, highlight=False)
        else:
            print_result(document)
    return outcomes


def print_result(document: dict[str, Any]) -> None:
    """A result as a line; its text is data (file names, labels, reasons), never read as markup."""
    timings = document.get("timings_ms") or {}
    spent = ", ".join(f"{k} {v:.0f}" for k, v in timings.items() if isinstance(v, int | float))
    if document["status"] == "ok":
        out.print(f"[bold]{escape(str(document['summary']))}[/]  [dim]({escape(str(document.get('pool')))}; "
                  f"ms: {spent})[/]", highlight=False)
    else:
        out.print(f"[red]{escape(str(document['image_key']))}: error: {escape(str(document.get('error')))}[/]",
                  highlight=False)
