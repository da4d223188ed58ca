"""The local provider's registry names a process by PID and start time: a reused PID is never signalled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from irs.autoscale.providers.local import LocalProvider


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
