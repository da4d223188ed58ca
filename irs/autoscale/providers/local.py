"""Hosts as worker processes on this machine, with a boot delay: the local stack's fleet.

Each host is a worker process (:mod:`irs.worker.command`) that first sleeps
for the boot delay. The fleet lives in a registry directory (one JSON file per host), so a
restarted controller adopts the processes its predecessor started. An entry
names its process by PID and start time: a PID the system has since given to
another process is never signalled.

A host is registered before its process starts, and its PID written after: a
controller killed in between leaves an entry without a PID, and the next one
finds the process by the host id on its command line and adopts it (or drops
the entry if no such process appeared within ``LAUNCH_GRACE_S``), so no
worker runs unregistered and the fleet is never counted short.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from irs.autoscale.providers import Host
from irs.pools import CLOUD, served_by
from irs.worker import command

LAUNCH_GRACE_S = 10.0  # how long an entry may wait for its process to appear
BOOT = "import os, sys, time; time.sleep(float(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])"


class LocalProvider:
    name = "local"

    def __init__(self, state_dir: Path, boot_delay_s: float = 5.0, max_hosts: int = 20, pool: str = CLOUD,
                 concurrency: int = 1, idle_shutdown_s: float = 300.0) -> None:
        self.registry = state_dir / "fleet"
        self.logs = state_dir / "logs"
        self.boot_delay_s = boot_delay_s
        self.max_hosts = max_hosts
        self.pool = pool
        self.concurrency = concurrency
        self.idle_shutdown_s = idle_shutdown_s
        self.registry.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)

    def _entries(self) -> list[dict[str, object]]:
        entries = []
        for path in sorted(self.registry.glob("*.json")):
            try:
                entry = json.loads(path.read_text())
                if entry.get("pid") is None:
                    entry = self._adopt(entry)
                    if entry is None:
                        path.unlink(missing_ok=True)  # its launch never started a process
                        continue
                    if entry.get("pid") is None:  # being launched right now
                        entries.append(entry)
                        continue
                pid, started = int(entry["pid"]), entry.get("started")
            except (OSError, ValueError, TypeError, KeyError, AttributeError):
                path.unlink(missing_ok=True)  # not an entry this provider wrote
                continue
            if _alive(pid) and started == _started(pid):
                entries.append(entry)
            else:
                path.unlink(missing_ok=True)  # the host is gone: its worker stopped (its PID may be reused)
                _reap(pid)
        return entries

    def _adopt(self, entry: dict[str, object]) -> dict[str, object] | None:
        """An entry registered by a controller that died before it wrote the PID: with the PID of the process
        that carries its host id, once found; as it is while its launch may still be under way; else None."""
        pid = _find(str(entry["id"]))
        if pid is not None:
            entry = {**entry, "pid": pid, "started": _started(pid)}
            self._write(entry)
            return entry
        return entry if time.time() - float(entry["launched_at"]) < LAUNCH_GRACE_S else None  # type: ignore[arg-type]

    def hosts(self) -> list[Host]:
        now = time.time()
        return [Host(str(e["id"]), "pending" if now < float(e["ready_at"]) else "running",  # type: ignore[arg-type]
                     float(e["launched_at"]), bool(e.get("always_on")))  # type: ignore[arg-type]
                for e in self._entries()]

    def register(self, host_id: str, pid: int, always_on: bool) -> None:
        """Adopt a worker started elsewhere (``irs up``'s always-on worker)."""
        now = time.time()
        self._write({"id": host_id, "pid": pid, "started": _started(pid), "launched_at": now, "ready_at": now,
                     "always_on": always_on})

    def launch(self, count: int, always_on: bool = False) -> list[str]:
        room = self.max_hosts - len(self._entries())
        started = []
        for _ in range(max(0, min(count, room))):
            host_id = f"local-{uuid.uuid4().hex[:8]}"
            env = {**os.environ, "IRS_INSTANCE_ID": host_id, "IRS_POOL_NAME": self.pool,
                   "IRS_ALWAYS_ON": str(always_on).lower(),
                   "IRS_IDLE_SHUTDOWN_S": "0" if always_on else str(self.idle_shutdown_s), "PYTHONUNBUFFERED": "1"}
            argv = [sys.executable, "-c", BOOT, str(self.boot_delay_s),
                    *command.argv(served_by(self.pool), self.concurrency, host_id)]
            log = (self.logs / f"{host_id}.log").open("ab")
            now = time.time()
            entry: dict[str, object] = {"id": host_id, "pid": None, "started": None, "launched_at": now,
                                        "ready_at": now + self.boot_delay_s, "always_on": always_on}
            self._write(entry)  # registered first: see the module's docstring
            child = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self._write({**entry, "pid": child.pid, "started": _started(child.pid)})
            started.append(host_id)
        return started

    def drain(self, ids: list[str]) -> None:
        self._signal(ids, signal.SIGTERM)  # an IRS worker drains on SIGTERM (irs.worker.lifecycle)

    def terminate(self, ids: list[str]) -> None:
        self._signal(ids, signal.SIGKILL)

    def stop_all(self, timeout: float = 30.0) -> None:
        """Drain every host, then end whatever is left after ``timeout``."""
        ids = [str(e["id"]) for e in self._entries()]
        self.drain(ids)
        deadline = time.monotonic() + timeout
        while self._entries() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.terminate([str(e["id"]) for e in self._entries()])

    def _signal(self, ids: list[str], signum: int) -> None:
        wanted = set(ids)
        for entry in self._entries():
            if entry["id"] in wanted and entry.get("pid") is not None:
                try:
                    os.kill(int(entry["pid"]), signum)  # type: ignore[call-overload]
                except ProcessLookupError:
                    pass

    def _write(self, entry: dict[str, object]) -> None:
        path = self.registry / f"{entry['id']}.json"
        path.with_suffix(".tmp").write_text(json.dumps(entry))
        path.with_suffix(".tmp").replace(path)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def _find(host_id: str) -> int | None:
    """The process whose command line names ``host_id`` (a worker this provider started; not one of its pool's
    processes, which carry the same command line), if any."""
    found: dict[int, int] = {}  # pid -> parent pid
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
            if any(host_id.encode() in argument for argument in arguments) and _alive(int(proc.name)):
                found[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return next((pid for pid, parent in found.items() if parent not in found), None)


def _started(pid: int) -> int | None:
    """When the process began, in clock ticks after boot (/proc/PID/stat, field 22): with the PID, its identity."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # started by an earlier controller: init reaps it
