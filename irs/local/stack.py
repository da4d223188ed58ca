"""The local stack's processes: started with their logs, watched, and stopped together.

Each child gets ``PR_SET_PDEATHSIG`` so it also stops if ``irs up`` itself is
killed. What runs is :mod:`irs.local.up`'s business.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from irs.settings import env_file

Say = Callable[[str], None]
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: Ctrl-C and SIGTERM still clean up


def listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


class Stack:
    """The processes of the local stack, stopped together."""

    def __init__(self, log_dir: Path, say: Say) -> None:
        self.log_dir = log_dir
        self.say = say
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        child = subprocess.Popen(argv, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, preexec_fn=_die_with_parent)
        self.children.append((name, child))
        self.say(f"started {name} (pid {child.pid}), log: {self.log_dir / (name + '.log')}")
        return child

    def wait_for(self, name: str, text: str, timeout: float = 60.0) -> None:
        """Wait until ``text`` appears in the child's log, e.g. a worker's "ready."."""
        log = self.log_dir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while not (log.exists() and text in log.read_text(errors="replace")):
            self.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not log {text!r} within {timeout:.0f} s; see {log}")
            time.sleep(0.1)

    def check(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited with code {child.returncode}; see {self.log_dir / (name + '.log')}")

    def stop(self, only: str | None = None, grace: float = 20.0) -> None:
        """Stop every child (or only the one named), newest first; SIGKILL what outlives ``grace``."""
        chosen = [(name, child) for name, child in reversed(self.children) if only in (None, name)]
        for _, child in chosen:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, child in chosen:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop in {grace:.0f} s; killing it")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.children = [(name, child) for name, child in self.children if (name, child) not in chosen]


def start_emulator(stack: Stack, endpoint: str, env: dict[str, str], timeout: float = 30.0) -> None:
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "127.0.0.1", parts.port or 4566
    if listening(host, port):
        stack.say(f"using the AWS emulator already listening at {endpoint}")
        return
    argv = [sys.executable, "-m", "irs.aws.emulator", "--host", host, "--port", str(port)]
    child = stack.start("emulator", argv, env)
    deadline = time.monotonic() + timeout
    while not listening(host, port):
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the emulator did not start; see {stack.log_dir / 'emulator.log'}")
        time.sleep(0.1)


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
