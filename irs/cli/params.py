"""Parameters more than one command takes, written once: a duration, and how a table of results is written."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from irs.contract import OWNER_NAME

Command = TypeVar("Command", bound=Callable[..., Any])
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType):
    """Seconds, or a number with a unit: 90, 90s, 30m, 2h, 1d."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value).lower())
            if not found:
                self.fail(f"{value!r} is not a duration: seconds, or a number with s, m, h or d (2h)", param, ctx)
            seconds = float(found[1]) * _UNITS[found[2]]
        if seconds <= 0:
            self.fail("a duration must be above zero", param, ctx)
        return seconds


DURATION = Duration()


def owner_option(command: Command) -> Command:
    """``--owner``, as every command that sends requests takes it: whose they are (fair shares, usage, erasure)."""
    def checked(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(OWNER_NAME, value):
            raise click.BadParameter(f"{value!r} is not an owner: 1 to 40 of a-z, 0-9, _ and -, starting with a "
                                     "letter or digit", ctx, param)
        return value
    return click.option("--owner", callback=checked, help="Whose requests these are: for fair shares between "
                        "teams, usage and erasure (default: IRS_OWNER, else the login name).")(command)


def table_options(command: Command) -> Command:
    """``--format`` and ``--per``, as every command that writes results as a table takes them. Spelled out rather
    than read from :mod:`irs.export`, which every command's start would then import; a test holds them equal."""
    command = click.option("--per", type=click.Choice(["detection", "image"]), default="detection",
                           show_default=True,
                           help="A row per detection (an image with none still has one), or per image.")(command)
    return click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]),
                        help="The table's format (default: the file's suffix).")(command)
