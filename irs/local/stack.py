"""The local stack's processes: started with their logs, supervised, and stopped together.

A child that dies is restarted after a growing wait, as systemd restarts a
unit, and the reason is said; only an essential child's death (the emulator,
whose state cannot be rebuilt) ends the stack. Whether a child is ready is
read from what it logged in this run, never from an earlier run's lines.

Each child gets ``PR_SET_PDEATHSIG`` so it also stops if ``irs up`` itself is
killed. What runs is :mod:`irs.local.up`'s business.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from irs.settings import Settings, env_file, get_settings

Say = Callable[[str], None]
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: Ctrl-C and SIGTERM still clean up


class Taken(Exception):
    """Another ``irs up`` holds this directory's stack."""


def hold(state_dir: Path) -> int:
    """Hold ``state_dir`` for this process's stack, as an open file descriptor (the lock goes when it closes,
    or the process dies); :class:`Taken` naming the holder's PID if another process holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "up.pid", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise Taken(f"another irs up (PID {holder}) runs the stack of this directory ({state_dir.resolve()}); "
                    f"stop it first (Ctrl-C in its terminal, or kill {holder}), or run this one from another "
                    "directory") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # waits before the 1st, 2nd, ... restart of a child; then the last
STEADY_S = 60.0  # a child that has run this long since its last start has its backoff reset


class Lost(Exception):
    """A child whose state cannot be rebuilt (the emulator's queues and buckets) is gone."""


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_from: int  # where this run's output begins in the log (earlier runs' lines come before)
    started_at: float
    essential: bool = False  # its death ends the stack: what it held cannot be rebuilt
    replaced_by: str | None = None  # not restarted here: who replaces it instead
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None
    restarts: int = 0
    restart_at: float | None = None


class Stack:
    """The processes of the local stack: started with their logs, supervised, and stopped together."""

    def __init__(self, log_dir: Path, say: Say) -> None:
        self.log_dir = log_dir
        self.say = say
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict[str, str], essential: bool = False,
              replaced_by: str | None = None,
              on_start: Callable[[subprocess.Popen[bytes]], None] | None = None) -> subprocess.Popen[bytes]:
        """Start a child; ``on_start`` runs with its process now and at every restart."""
        child = Child(name, argv, env, *self._spawn(name, argv, env), time.monotonic(), essential, replaced_by,
                      on_start)
        self.children.append(child)
        if on_start:
            on_start(child.process)
        self.say(f"started {name} (pid {child.process.pid}), log: {self.log_dir / (name + '.log')}")
        return child.process

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
        path = self.log_dir / f"{name}.log"
        log = path.open("ab")
        offset = log.tell()
        process = subprocess.Popen(argv, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        return process, offset

    def pid(self, name: str) -> int:
        return next(child.process.pid for child in self.children if child.name == name)

    def output(self, name: str) -> str:
        """What the child has logged in this run: an earlier run's lines never count."""
        child = next(child for child in self.children if child.name == name)
        path = self.log_dir / f"{name}.log"
        with path.open("rb") as log:
            log.seek(child.log_from)
            return log.read().decode(errors="replace")

    def wait_for(self, name: str, text: str, timeout: float = 60.0, supervised: bool = False) -> None:
        """Wait until ``text`` appears in what the child logged since it last started, e.g. a worker's
        "ready."; ``supervised``: restart what dies meanwhile (else a death is an error)."""
        deadline = time.monotonic() + timeout
        while text not in self.output(name):
            self.supervise() if supervised else self.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not log {text!r} within {timeout:.0f} s; see "
                                   f"{self.log_dir / (name + '.log')}")
            time.sleep(0.1)

    def check(self) -> None:
        """Raise if any child has exited (for a stack that does not restart its children: benchmarks)."""
        for child in self.children:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with code {child.process.returncode}; see "
                                   f"{self.log_dir / (child.name + '.log')}")

    def supervise(self) -> None:
        """Restart each child that died, after a growing wait, saying why; raise :class:`Lost` if an essential
        one died."""
        now = time.monotonic()
        for child in self.children:
            code = child.process.poll()
            if code is None:
                if child.restarts and now - child.started_at >= STEADY_S:
                    child.restarts = 0  # it has run steadily: a later death starts the backoff over
                continue
            if child.essential:
                raise Lost(f"{child.name} exited with code {code}: everything it held is gone; see "
                           f"{self.log_dir / (child.name + '.log')}")
            if child.replaced_by is not None:
                if child.restart_at is None:
                    _reap_group(child.process)
                    child.restart_at = float("inf")
                    self.say(f"{child.name} (pid {child.process.pid}) exited with code {code}; "
                             f"{child.replaced_by} replaces it")
                continue
            if child.restart_at is None:
                _reap_group(child.process)
                wait = BACKOFF_S[min(child.restarts, len(BACKOFF_S) - 1)]
                child.restart_at = now + wait
                self.say(f"{child.name} (pid {child.process.pid}) exited with code {code}; restarting it in "
                         f"{wait:.0f} s (restart {child.restarts + 1}); see {self.log_dir / (child.name + '.log')}")
            elif now >= child.restart_at:
                child.process, child.log_from = self._spawn(child.name, child.argv, child.env)
                child.started_at, child.restart_at, child.restarts = now, None, child.restarts + 1
                if child.on_start:
                    child.on_start(child.process)
                self.say(f"restarted {child.name} (pid {child.process.pid})")

    def stop(self, only: str | None = None, grace: float = 20.0) -> None:
        """Stop every child (or only the one named), newest first; SIGKILL what outlives ``grace``."""
        chosen = [child for child in reversed(self.children) if only in (None, child.name)]
        for child in chosen:
            if child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in chosen:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in {grace:.0f} s; killing it")
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        self.children = [child for child in self.children if child not in chosen]


def _reap_group(process: subprocess.Popen[bytes]) -> None:
    """End what a dead child left in its process group (a worker's pool processes), before it is restarted."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def emulator_command(settings: Settings, host: str, port: int, env: dict[str, str], state_dir: Path
                     ) -> tuple[list[str], dict[str, str]]:
    """How to run the AWS emulator ``IRS_EMULATOR`` names on ``host:port``: its command line and environment.

    ``moto`` is IRS's own wrapper of moto's server (:mod:`irs.aws.emulator`); ``localstack`` is LocalStack in
    its own virtual environment (``IRS_LOCALSTACK_PYTHON``; ``make`` builds it from requirements-localstack.txt),
    SQS, S3 and SNS only, its state under ``state_dir``.
    """
    if settings.emulator == "moto":
        return [sys.executable, "-m", "irs.aws.emulator", "--host", host, "--port", str(port)], env
    python = settings.localstack_python
    if not python.exists():
        raise RuntimeError(f"LocalStack is not installed at {python}: run `make localstack`, or set "
                           "IRS_LOCALSTACK_PYTHON to a Python that has localstack-core")
    state_dir.mkdir(parents=True, exist_ok=True)
    return [str(python), "-m", "localstack.runtime.main"], {
        **env, "SERVICES": "sqs,s3,sns", "GATEWAY_LISTEN": f"{host}:{port}", "LOCALSTACK_HOST": f"{host}:{port}",
        # Loopback only: no analytics events, no DNS server, no certificate download.
        "DISABLE_EVENTS": "1", "DNS_ADDRESS": "0", "SKIP_SSL_CERT_DOWNLOAD": "1",
        "LOCALSTACK_VOLUME_DIR": str(state_dir)}


def start_emulator(stack: Stack, endpoint: str, env: dict[str, str], timeout: float = 30.0
                   ) -> subprocess.Popen[bytes] | None:
    """The emulator's process (``IRS_EMULATOR``: moto unless it says localstack), started and listening; None
    when one already listens at ``endpoint``."""
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "127.0.0.1", parts.port or 4566
    if listening(host, port):
        stack.say(f"using the AWS emulator already listening at {endpoint}")
        return None
    settings = get_settings()
    argv, child_env = emulator_command(settings, host, port, env, stack.log_dir.parent / "localstack")
    child = stack.start("emulator", argv, child_env, essential=True)
    deadline = time.monotonic() + timeout
    while not listening(host, port):
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the emulator ({settings.emulator}) did not start; see "
                               f"{stack.log_dir / 'emulator.log'}")
        time.sleep(0.1)
    return child


def write_env_file(values: dict[str, str]) -> Path:
    """The settings other shells need, readable by this user alone (0600, whatever the umask)."""
    path = Path(env_file())
    lines = ["# Written by `irs up` so that irs and celery in other shells find the local stack.",
             "# Removed when it stops. Real environment variables override these."]
    path.unlink(missing_ok=True)  # a file left by another user, or with wider rights, is not reused
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n")
    return path


class Stopped(Exception):
    """SIGTERM or SIGINT arrived."""


def raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)
