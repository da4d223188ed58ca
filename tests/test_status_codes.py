"""The exit statuses scripts read: all answered ok, answered with some errors, or not finished."""

from __future__ import annotations

import pytest

from irs.cli.status_codes import Exit, exit_of


@pytest.mark.parametrize(("outcomes", "finished", "errors_ok", "expected"), [
    (["ok", "ok"], True, False, Exit.ANSWERED),
    (["ok", "not_an_image"], True, False, Exit.ANSWERED_WITH_ERRORS),
    (["ok", "not_an_image", "archived"], True, True, Exit.ANSWERED),
    (["ok"], False, False, Exit.UNFINISHED),
    (["ok", "dead_lettered"], True, False, Exit.UNFINISHED),
    (["ok", "dead_lettered"], True, True, Exit.UNFINISHED),
    ([], True, False, Exit.ANSWERED),
])
def test_the_exit_status_says_whether_every_request_was_answered_and_how(
        outcomes: list[str], finished: bool, errors_ok: bool, expected: Exit) -> None:
    assert exit_of(outcomes, finished, errors_ok) is expected


def test_the_statuses_leave_2_to_the_command_line_and_are_distinct() -> None:
    assert sorted(Exit) == [0, 1, 3]
