"""The local provider's registry names a process by PID and start time: a reused PID is never signalled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from irs.autoscale.providers.local import LocalProvider
from tests.conftest import wait_until


def test_an_entry_whose_pid_now_belongs_to_another_process_is_dropped_not_signalled(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        provider = LocalProvider(tmp_path)
        provider.register("adopted", bystander.pid, always_on=False)
        assert [h.id for h in provider.hosts()] == ["adopted"]
        entry = tmp_path / "fleet" / "adopted.json"
        stale = {**json.loads(entry.read_text()), "started": 1}  # what the registry held for an earlier process
        entry.write_text(json.dumps(stale))
        provider.terminate(["adopted"])
        assert bystander.poll() is None  # the process now holding that PID is untouched
        assert provider.hosts() == [] and not entry.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_file_that_is_not_an_entry_is_dropped(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path)
    (tmp_path / "fleet" / "junk.json").write_text('{"pid": "' + str(os.getpid()) + '"')
    assert provider.hosts() == []


KILLED_CONTROLLER = """
import os, signal, sys
from pathlib import Path
from irs.autoscale.providers import local

local.command.argv = lambda queues, concurrency, name, extra=(): [
    sys.executable, "-c", "import time; time.sleep(60)", name]
write = local.LocalProvider._write

def write_then_die(self, entry):
    if entry.get("pid") is not None:  # the host's process has started; its PID is about to be written
        print(entry["id"], entry["pid"], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    write(self, entry)

local.LocalProvider._write = write_then_die
local.LocalProvider(Path(sys.argv[1]), boot_delay_s=0).launch(1)
"""


def test_a_controller_killed_between_start_and_registration_leaves_no_orphan(tmp_path: Path) -> None:
    """The controller is SIGKILLed right after its host's process started, before it wrote the PID; the next
    controller adopts that process by its host id, counts it (so the cap holds), and can stop it."""
    run = subprocess.run([sys.executable, "-c", KILLED_CONTROLLER, str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == -9, run.stderr
    host_id, pid_text = run.stdout.split()
    pid = int(pid_text)
    try:
        restarted = LocalProvider(tmp_path, boot_delay_s=0, max_hosts=1)
        assert [h.id for h in restarted.hosts()] == [host_id]  # adopted, so counted
        assert json.loads((tmp_path / "fleet" / f"{host_id}.json").read_text())["pid"] == pid
        assert restarted.launch(1) == []  # the fleet is full: adopting the host keeps the cap
        restarted.terminate([host_id])
        wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
                   .rsplit(")", 1)[1].split()[0], 10, "the adopted host to stop")
        assert restarted.hosts() == []
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def test_an_entry_whose_launch_never_started_a_process_is_dropped_after_the_grace(tmp_path: Path) -> None:
    from irs.autoscale.providers import local

    provider = LocalProvider(tmp_path)
    entry = {"id": "local-neverstarted", "pid": None, "started": None, "launched_at": 0.0, "ready_at": 5.0,
             "always_on": False}
    (tmp_path / "fleet" / "local-neverstarted.json").write_text(json.dumps(entry))
    assert provider.hosts() == []
    fresh = {**entry, "launched_at": local.time.time(), "ready_at": local.time.time() + 5}
    (tmp_path / "fleet" / "local-neverstarted.json").write_text(json.dumps(fresh))
    assert [h.state for h in provider.hosts()] == ["pending"]  # its launch may still be under way
