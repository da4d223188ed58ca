"""What ``irs classify``, ``irs results`` and ``irs job wait`` tell a script by their exit status, decided once.

A request that was dead-lettered has an answer (an error document of kind ``dead_lettered``) but was never
processed, so it counts with the unfinished, not with the images that were looked at and found wanting.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Exit(IntEnum):
    """The exit statuses; 2 is the command line's own (a wrong option, an unknown model)."""

    ANSWERED = 0  # every request answered ok
    ANSWERED_WITH_ERRORS = 1  # every request answered, some with an error document (a non-image, a missing key)
    UNFINISHED = 3  # not every request answered: a timeout, an interruption, a dead-lettered request, a failed job


def exit_of(outcomes: Iterable[str], finished: bool, errors_ok: bool = False) -> Exit:
    """The exit status for requests whose outcomes are ``outcomes`` ("ok" or an error kind), once ``finished``
    says whether every one was answered; with ``errors_ok``, answered with errors is success too."""
    from irs.results import ErrorKind  # the schema's module: not loaded for every command's start

    found = set(outcomes)
    if not finished or ErrorKind.DEAD_LETTERED.value in found:  # never processed: the work is not finished
        return Exit.UNFINISHED
    if found - {"ok"} and not errors_ok:
        return Exit.ANSWERED_WITH_ERRORS
    return Exit.ANSWERED


def outcome(document: dict[str, object]) -> str:
    """A result document's outcome: "ok", or its error kind."""
    return "ok" if document.get("status") == "ok" else str(document.get("error_kind") or "error")

