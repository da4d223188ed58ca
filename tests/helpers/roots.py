"""Debian roots for the installer tests: built with debootstrap, the checkout's wheel and installers in /src,
the installers run inside as on a fresh machine, and a unit's command run as systemd would start it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from irs.deploy import devices
from tests.conftest import ENDPOINT, MODELS, ROOT, wait_until

MIRROR = "http://deb.debian.org/debian"
#: This machine's own trust anchors (its network's TLS proxy), which any host on this network would have.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
#: Held while the checkout is built into a wheel: setuptools builds in the tree, and two builds at once would collide.
WHEEL_LOCK = ROOT / ".irs" / "wheel.lock"


def run_logged(argv: list[str], log: Path, timeout: float = 1200) -> None:
    with log.open("ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv[:4])}... failed; see {log}:\n{log.read_text()[-3000:]}"


def in_root(root: Path, script: str, log: Path, timeout: float = 1200, **env: str) -> None:
    """Run an installer in the root as root, with nothing of this machine's environment or pip configuration
    but the system's trust store, which pip's own bundle does not read."""
    clean = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
             "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt", **env}
    run_logged(["chroot", str(root), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in clean.items()), "bash", script],
               log, timeout)


@contextmanager
def model_mirror() -> Iterator[str]:
    """The shared models on loopback, standing in for their upstream addresses."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(MODELS)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def mounted(root: Path, log: Path) -> Iterator[Path]:
    """``root`` with /proc and /dev mounted, name resolution and the local trust anchors, and the checkout's
    wheel and installers in /src. Not /sys: under qemu, ONNX Runtime reading the host's CPU topology there
    crashes an arm64 process (SIGSEGV); without it, it warns and runs."""
    mounts = [root / "proc", root / "dev"]
    run_logged(["mount", "-t", "proc", "proc", str(mounts[0])], log)
    run_logged(["mount", "--rbind", "/dev", str(mounts[1])], log)
    try:
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        if LOCAL_CAS.is_dir():
            shutil.copytree(LOCAL_CAS, root / LOCAL_CAS.relative_to("/"), dirs_exist_ok=True)
        source = root / "src"
        for part in ("deploy", "edge"):
            shutil.copytree(ROOT / part, source / part, dirs_exist_ok=True)
        WHEEL_LOCK.parent.mkdir(parents=True, exist_ok=True)
        with WHEEL_LOCK.open("w") as lock:  # the Pi's stage builds beside the suite: one build in the tree at once
            fcntl.flock(lock, fcntl.LOCK_EX)
            run_logged([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(source), str(ROOT)],
                       log)
        yield root
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", "--recursive", "--lazy", str(mount)], check=False)


def wheel(root: Path) -> dict[str, str]:
    (found,) = (root / "src").glob("irs-*.whl")
    return {"IRS_SOURCE": f"/src/{found.name}", "IRS_SOURCE_SHA256": hashlib.sha256(found.read_bytes()).hexdigest()}


def unit(root: Path, name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (root / "etc/systemd/system" / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def as_unit_user(root: Path, settings: dict[str, list[str]], env_file: list[str], command: str) -> list[str]:
    """A unit's command as systemd would start it: as its user, with its Environment= and EnvironmentFile=."""
    environment = [pair for line in settings.get("Environment", []) for pair in shlex.split(line)] + env_file
    user = settings["User"][0]
    return ["chroot", f"--userspec={user}:{user}", str(root), "/usr/bin/env", "-i", "HOME=/var/lib/irs",
            "PATH=/usr/bin:/bin", "PYTHONUNBUFFERED=1", *environment, *shlex.split(command)]


def tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(p for child in children for p in tree(int(child)))]


@dataclass
class EdgeWorker:
    """The installed ``irs-edge`` unit's command, running as its user in a root, for a registered device."""

    root: Path
    process: subprocess.Popen[bytes]
    log: Path
    env: list[str]  #: the unit's EnvironmentFile, which the watcher's unit reads too

    @property
    def camera(self) -> Path:
        """The folder the watcher watches, as this machine sees it."""
        return self.root / dict(pair.split("=", 1) for pair in self.env)["IRS_LOCAL_IMAGE_DIR"].lstrip("/")

    def watch_once(self, photo: Path, timeout: float) -> dict[str, Any]:
        """``photo`` taken on the device, then the watcher unit's command with ``--once``: the document it printed."""
        shutil.copy(photo, self.camera / photo.name)
        watcher = unit(self.root, "irs-edge-watch.service")
        done = subprocess.run(as_unit_user(self.root, watcher, self.env, watcher["ExecStart"][0] + " --once"),
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr[-3000:]
        document: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return document


@contextmanager
def edge_worker(root: Path, device: str, log: Path, ready_s: float) -> Iterator[EdgeWorker]:
    """The installed ``irs-edge`` unit's command for ``device``, registered as an administrator does (what that
    prints added to the unit's EnvironmentFile, with this test run's emulator as its AWS), until the block ends;
    then it is stopped and the device removed."""
    worker_unit = unit(root, "irs-edge.service")
    settings = devices.add(device, say=lambda _: None)
    env_file = root / worker_unit["EnvironmentFile"][0].lstrip("/")
    with env_file.open("a") as out:
        out.writelines(f"{key}={value}\n" for key, value in {**settings, "IRS_ENDPOINT_URL": ENDPOINT}.items())
    env = [line for line in env_file.read_text().splitlines() if "=" in line and not line.startswith("#")]
    process = subprocess.Popen(as_unit_user(root, worker_unit, env, worker_unit["ExecStart"][0]),
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "ready." in log.read_text() or process.poll() is not None, ready_s,
                   "the installed edge worker")
        assert process.poll() is None, log.read_text()
        yield EdgeWorker(root, process, log, env)
    finally:
        os.killpg(process.pid, 15)
        process.wait(120)
        devices.remove(device, say=lambda _: None)
