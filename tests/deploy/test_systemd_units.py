"""Every systemd unit IRS installs (EC2 user data, the Pi installer), as bash writes it at install: it restarts
its worker after a crash or a SIGKILL within a start limit, confines it, and passes systemd's own checks.

What is checked here is the units as systemd reads them (``systemd-analyze verify`` and ``security``, and
the ``Restart=``/start-limit semantics). Watching systemd restart a killed worker needs a machine that boots
systemd; this one does not.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from irs.autoscale.providers.userdata import render
from tests.conftest import ROOT

HEREDOC = re.compile(r"cat > /etc/systemd/system/(?P<name>[\w.-]+\.service) <<UNIT\n(?P<body>.*?\nUNIT)\n", re.S)
WORKERS = ("ec2-ephemeral-irs-worker.service", "ec2-always-on-irs-worker.service", "edge-irs-edge.service")
#: Every unit that runs an IRS process: the workers, and the Pi's watcher without and with the camera.
CONFINED = (*WORKERS, "edge-irs-edge-watch.service", "edge-camera-irs-edge-watch.service")
SYSTEMD = shutil.which("systemd-analyze")
MAX_EXPOSURE = 2.0  # systemd-analyze security: lower is better; "OK" below 4


@cache
def units() -> dict[str, str]:
    """Each unit's text as bash writes it during an install (the installers' variables as they set them)."""
    prefix = Path(os.environ.get("TMPDIR", "/tmp")) / f"irs-units-{os.getpid()}"
    (prefix / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
    irs = prefix / ".venv" / "bin" / "irs"
    if not irs.exists():
        irs.symlink_to(Path(sys.executable).parent / "irs")  # the real `irs worker --print-sandbox`
    (prefix / "camera").mkdir(exist_ok=True)  # the installer has made the image directory when it writes units
    variables = {**os.environ, "PREFIX": str(prefix), "ENV_FILE": "/etc/irs/irs.env",
                 "IMAGE_DIR": str(prefix / "camera"), "CONCURRENCY": "1", "THREADS": "4", "IRS_MODEL": "m"}
    scripts = {f"ec2-{role}-": render({"IRS_X": "1"}, always_on=on) for role, on in (("ephemeral", False),
                                                                                     ("always-on", True))}
    scripts["edge-"] = scripts["edge-camera-"] = (ROOT / "edge" / "install.sh").read_text()
    found = {}
    for label, script in scripts.items():
        camera = {"CAMERA_EVERY": "5"} if label == "edge-camera-" else {}
        for m in HEREDOC.finditer(script):
            run = subprocess.run(["bash", "-euo", "pipefail", "-c", f"cat <<UNIT\n{m['body']}\n"],
                                 env={**variables, **camera}, capture_output=True, text=True, check=True)
            found[f"{label}{m['name']}"] = run.stdout
    return found


def settings(unit: str) -> dict[str, str]:
    return {k: v for k, _, v in (line.partition("=") for line in unit.splitlines()) if v}


def for_checking(unit: str) -> str:
    """The unit with its programs replaced by one that exists here (the installed ones are not on this machine)."""
    for line in unit.splitlines():
        if line.startswith(("ExecStart=", "ExecStartPre=")):
            unit = unit.replace(line.split("=", 1)[1].split()[0], "/bin/true")
    return unit


@pytest.mark.parametrize("name", sorted(units()))
def test_the_unit_restarts_its_worker_after_a_crash_or_a_kill_within_a_start_limit(name: str) -> None:
    found = settings(units()[name])
    assert found["Restart"] == "on-failure"  # systemd: a kill by a signal such as SIGKILL is a failure
    assert int(found["RestartSec"]) > 0
    assert int(found["StartLimitBurst"]) >= 3 and int(found["StartLimitIntervalSec"]) >= 60
    assert found["WantedBy"] == "multi-user.target"


def test_the_ephemeral_host_powers_off_only_after_a_clean_stop_as_root() -> None:
    """The variable is systemd's: bash, writing the unit at boot, must leave it (it once expanded it to "")."""
    unit = units()["ec2-ephemeral-irs-worker.service"]
    assert "ExecStopPost=+/bin/sh -c 'if [ \"$SERVICE_RESULT\" = success ]; then systemctl poweroff; fi'" in unit
    assert "poweroff" not in units()["ec2-always-on-irs-worker.service"]


@pytest.mark.skipif(SYSTEMD is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("name", sorted(units()))
def test_systemd_reads_the_unit_without_a_complaint(name: str, tmp_path: Path) -> None:
    path = tmp_path / name.split("-", 2)[-1]
    path.write_text(for_checking(units()[name]))
    run = subprocess.run([str(SYSTEMD), "verify", str(path)], capture_output=True, text=True, cwd=tmp_path)
    complaints = [line for line in (run.stdout + run.stderr).splitlines() if str(path) in line]
    assert run.returncode == 0 and not complaints, run.stdout + run.stderr


def exposure(unit: str, tmp_path: Path, name: str) -> float:
    path = tmp_path / name
    path.write_text(for_checking(unit))
    run = subprocess.run([str(SYSTEMD), "security", "--offline=yes", "--no-pager", str(path)], capture_output=True,
                         text=True, cwd=tmp_path)
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", run.stdout + run.stderr)
    assert score, run.stdout + run.stderr
    return float(score[1])


@pytest.mark.skipif(SYSTEMD is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("name", CONFINED)
def test_every_irs_process_runs_confined(name: str, tmp_path: Path) -> None:
    found = settings(units()[name])
    assert found["NoNewPrivileges"] == "yes" and found["ProtectSystem"] == "strict" and "MemoryMax" in found
    assert exposure(units()[name], tmp_path, name.split("-", 2)[-1]) <= MAX_EXPOSURE
