"""One irs up per directory: the state directory is held for as long as its stack runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from irs.local.stack import Taken, hold


def test_a_second_holder_is_refused_with_the_first_ones_pid_until_the_first_lets_go(tmp_path: Path) -> None:
    first = hold(tmp_path / ".irs")
    with pytest.raises(Taken, match=f"another irs up \\(PID {os.getpid()}\\)"):
        hold(tmp_path / ".irs")
    os.close(first)
    os.close(hold(tmp_path / ".irs"))  # free again once the first is gone
