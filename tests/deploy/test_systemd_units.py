"""Every systemd unit IRS installs (EC2 user data, the Pi installer) restarts its worker after a crash or a
SIGKILL, within a start limit, and passes systemd's own checker.

What is checked here is the units as systemd reads them (``systemd-analyze verify`` and its
``Restart=``/start-limit semantics). Watching systemd restart a killed worker needs a machine that boots
systemd; this one does not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from irs.autoscale.providers.userdata import render
from tests.conftest import ROOT

FILLED = {"PREFIX": "/opt/irs", "ENV_FILE": "/etc/irs/irs.env", "IMAGE_DIR": "/var/lib/irs/images"}  # as installed
HEREDOC = re.compile(r"cat > /etc/systemd/system/(?P<name>[\w.-]+\.service) <<UNIT\n(?P<body>.*?)\nUNIT\n", re.S)


def units() -> dict[str, str]:
    """Each unit's text, with the installers' shell variables filled in as an install would."""
    found = {f"ec2-{role}-{m['name']}": m["body"] for role, always_on in (("ephemeral", False), ("always-on", True))
             for m in HEREDOC.finditer(render({"IRS_X": "1"}, always_on=always_on))}
    install = (ROOT / "edge" / "install.sh").read_text()
    for m in HEREDOC.finditer(install):
        body = m["body"].replace("${CAMERA_EVERY:+--camera $CAMERA_EVERY}", "")
        found[f"edge-{m['name']}"] = re.sub(r"\$(\w+)", lambda v: FILLED.get(v[1], "x"), body)
    return found


def settings(unit: str) -> dict[str, str]:
    return {k: v for k, _, v in (line.partition("=") for line in unit.splitlines()) if v}


@pytest.mark.parametrize("name", sorted(units()))
def test_the_unit_restarts_its_worker_after_a_crash_or_a_kill_within_a_start_limit(name: str) -> None:
    found = settings(units()[name])
    assert found["Restart"] == "on-failure"  # systemd: a kill by a signal such as SIGKILL is a failure
    assert int(found["RestartSec"]) > 0
    assert int(found["StartLimitBurst"]) >= 3 and int(found["StartLimitIntervalSec"]) >= 60
    assert found["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("name", sorted(units()))
def test_systemd_reads_the_unit_without_a_complaint(name: str, tmp_path: Path) -> None:
    unit = units()[name]
    for command in {line.split("=", 1)[1].split()[0] for line in unit.splitlines()
                    if line.startswith(("ExecStart=", "ExecStartPre="))}:
        unit = unit.replace(command, "/bin/true")  # the installed programs are not on this machine
    path = tmp_path / name.split("-", 2)[-1]
    path.write_text(unit)
    run = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, cwd=tmp_path)
    complaints = [line for line in (run.stdout + run.stderr).splitlines() if str(path) in line]
    assert run.returncode == 0 and not complaints, run.stdout + run.stderr
