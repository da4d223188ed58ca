"""The local stack supervises its children as systemd does: restart what dies, after a growing wait."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from irs.local import stack
from tests.conftest import wait_until

SLEEPER = [sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)"]


@pytest.fixture
def procs(tmp_path: Path):  # type: ignore[no-untyped-def]
    said: list[str] = []
    supervisor = stack.Stack(tmp_path / "logs", say=said.append)
    supervisor.said = said  # type: ignore[attr-defined]
    yield supervisor
    supervisor.stop(grace=5)


def test_a_child_that_dies_is_restarted_after_a_wait_and_the_reason_is_said(procs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(stack, "BACKOFF_S", (0.2, 0.4))
    started: list[int] = []
    first = procs.start("web", SLEEPER, {}, on_start=lambda process: started.append(process.pid))
    first.kill()
    first.wait()
    wait_until(lambda: procs.supervise() or len(started) == 2, 10, "the restart")
    assert started[0] != started[1] and procs.pid("web") == started[1]
    assert any("web (pid" in line and "exited with code -9; restarting it in 0 s (restart 1)" in line
               for line in procs.said)
    procs.wait_for("web", "up")  # it is up again, and says so in this run's output


def test_a_child_replaced_by_someone_else_is_left_to_them(procs) -> None:  # type: ignore[no-untyped-def]
    worker = procs.start("worker-cloud", SLEEPER, {}, replaced_by="the autoscaler")
    worker.kill()
    worker.wait()
    for _ in range(3):
        procs.supervise()
    assert procs.pid("worker-cloud") == worker.pid
    assert sum("the autoscaler replaces it" in line for line in procs.said) == 1


def test_the_death_of_an_essential_child_ends_the_stack(procs) -> None:  # type: ignore[no-untyped-def]
    emulator = procs.start("emulator", SLEEPER, {}, essential=True)
    emulator.kill()
    emulator.wait()
    with pytest.raises(stack.Lost, match="everything it held is gone"):
        procs.supervise()


def test_readiness_is_read_from_this_runs_output_only(procs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "logs" / "worker.log").write_text("worker@host ready.\n")  # what an earlier run left
    procs.start("worker", [sys.executable, "-c", "import time; time.sleep(60)"], {})
    with pytest.raises(RuntimeError, match="did not log 'ready.'"):
        procs.wait_for("worker", "ready.", timeout=1)
