"""`irs up` runs the whole local stack, answers requests, and leaves nothing behind when stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import IMAGES, ROOT, wait_until
from tests.helpers.ports import free_port

pytestmark = pytest.mark.usefixtures("shared")  # it starts the whole stack, emulator and workers included


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _logs(root: Path) -> str:
    """The children's logs' last lines, for a failure's message."""
    return "\n".join(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
                     for path in sorted((root / ".irs" / "logs").glob("*.log")))


def test_irs_up_serves_the_demo_supervises_its_children_and_stops_every_process_on_sigterm(tmp_path: Path
                                                                                          ) -> None:
    port, web_port = free_port(), free_port()
    env = {**os.environ, "IRS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "IRS_DEMO_IMAGES": str(IMAGES),
           "PYTHONUNBUFFERED": "1", "IRS_CONCURRENCY": "1", "IRS_WEB_PORT": str(web_port),
           "IRS_FLOWER_PORT": str(free_port()),
           "AWS_ACCESS_KEY_ID": "AKIAUSERSOWNKEY00000", "AWS_SECRET_ACCESS_KEY": "the-users-own-secret"}
    env.pop("IRS_ENV_FILE")
    (tmp_path / ".irs" / "logs").mkdir(parents=True)
    (tmp_path / ".irs" / "logs" / "worker-cloud.log").write_text("cloud@host ready.\n")  # an earlier run's
    log = tmp_path / "up.log"
    up = subprocess.Popen([sys.executable, "-m", "irs.cli", "up"], cwd=tmp_path, env=env,
                          stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "IRS is up" in log.read_text() or up.poll() is not None, 120, "irs up")
        text = log.read_text()
        assert "IRS is up" in text, text
        # "ready." was read from this run's output, not the line an earlier run left.
        assert (tmp_path / ".irs" / "logs" / "worker-cloud.log").read_text().count("ready.") == 2
        # The emulated edge may serve one of them (with its smaller model): what matters is that both are right.
        assert re.search(r"dog\.jpg: .*\bdog\b", text) and re.search(r"eagle\.jpg: .*\bbird\b", text), text
        assert f"web app and API at http://127.0.0.1:{web_port}" in text
        assert httpx.get(f"http://127.0.0.1:{web_port}/health/ready", timeout=10).json()["status"] == "ready"
        env_file = tmp_path / "irs.env"
        assert f"IRS_ENDPOINT_URL=http://127.0.0.1:{port}" in env_file.read_text()
        assert env_file.stat().st_mode & 0o777 == 0o600  # this user's alone
        assert "the-users-own-secret" not in env_file.read_text() and "AKIAUSERSOWNKEY" not in env_file.read_text()

        # A second irs up in the same directory refuses, naming the first, and leaves its state alone.
        second = subprocess.run([sys.executable, "-m", "irs.cli", "up"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 1 and f"another irs up (PID {up.pid})" in second.stdout + second.stderr
        assert f"IRS_ENDPOINT_URL=http://127.0.0.1:{port}" in env_file.read_text()

        # Another shell, in the same directory, finds the stack through irs.env alone.
        other = {k: v for k, v in env.items() if k != "IRS_ENDPOINT_URL"}
        run = subprocess.run([sys.executable, "-m", "irs.cli", "classify", str(IMAGES / "giraffe.jpg")],
                             cwd=tmp_path, env={**other, "PYTHONPATH": str(ROOT)}, capture_output=True,
                             text=True, timeout=120)
        assert "giraffe.jpg: giraffe" in run.stdout, run.stderr

        def workers() -> dict[str, int]:
            status = subprocess.run([sys.executable, "-m", "irs.cli", "status", "--json"], cwd=tmp_path,
                                    env={**other, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
            return {p["pool"]: p["workers"] for p in json.loads(status.stdout)}

        one_each = {"cloud": 1, "edge": 1, "jobs": 1}  # the jobs queue's workers are the cloud's
        wait_until(lambda: workers() == one_each, 30, "one cloud and one emulated edge worker")

        pids = [int(pid) for pid in re.findall(r"started \S+ \(pid (\d+)\)", text)]
        password = re.search(r"password (\S+)\)", text)
        assert password is not None
        for pid in pids:  # a command line is visible to every user of the machine: no secret on one
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:  # it died since: the supervisor must have said so (and say which, here)
                said = log.read_text()
                assert f"(pid {pid}) exited" in said, f"pid {pid} is gone unannounced:\n{said}\n{_logs(tmp_path)}"
                continue
            assert password.group(1).encode() not in cmdline and b"the-users-own-secret" not in cmdline
        assert "Flower at http://127.0.0.1:" in text and "user irs, password" in text
        assert len(pids) == 6  # the emulator, the cloud and emulated edge workers, the autoscaler, web, Flower

        # Supervised: a child that dies is restarted, and the stack stays up.
        children = {name: int(pid) for name, pid in re.findall(r"started (\S+) \(pid (\d+)\)", text)}
        for name in ("web", "autoscaler", "worker-edge"):
            os.killpg(children[name], signal.SIGKILL)
        wait_until(lambda: all(f"restarted {name} (pid" in log.read_text() for name in
                               ("web", "autoscaler", "worker-edge")), 60, "the three to be restarted")
        wait_until(lambda: _ready(web_port), 60, "the restarted web app to be ready")
        os.killpg(children["worker-cloud"], signal.SIGKILL)  # the always-on worker: the autoscaler replaces it
        wait_until(lambda: "worker-cloud" in log.read_text().split("restarted worker-edge")[-1]
                   and "the autoscaler replaces it" in log.read_text(), 30, "word of the replacement")
        again = subprocess.run([sys.executable, "-m", "irs.cli", "classify", str(IMAGES / "giraffe.jpg")],
                               cwd=tmp_path, env={**other, "PYTHONPATH": str(ROOT)}, capture_output=True,
                               text=True, timeout=180)
        assert "giraffe.jpg: giraffe" in again.stdout, again.stderr
        assert up.poll() is None
        pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", log.read_text())]
        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0
        assert "stopped" in log.read_text()
        assert not env_file.exists()
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists(), f"process {pid} outlived irs up"
        leftover = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True).stdout
        assert not leftover.strip()
        assert not list((tmp_path / ".irs" / "fleet").glob("*.json")), "autoscaled hosts outlived irs up"
    finally:
        if up.poll() is None:
            up.kill()
