"""The Raspberry Pi installer: valid bash, a service that starts at boot, restarts, and serves the edge queue."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT

SCRIPT = ROOT / "edge" / "install.sh"


def test_the_installer_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_the_service_consumes_the_edge_queue_restarts_and_survives_reboots() -> None:
    text = SCRIPT.read_text()
    assert "ExecStart=$PREFIX/.venv/bin/irs worker" in text and "IRS_POOL_NAME=edge" in text
    assert "Restart=on-failure" in text and "WantedBy=multi-user.target" in text and "systemctl enable" in text


def test_the_pi_serves_its_own_queue_and_watches_its_image_directory() -> None:
    text = SCRIPT.read_text()
    assert "IRS_DEVICE_ID=$DEVICE_ID" in text and "irs provision --device-only" in text
    assert "irs edge watch $IMAGE_DIR" in text and "IRS_LOCAL_IMAGE_DIR=$IMAGE_DIR" in text


def test_the_installer_refuses_a_package_it_cannot_verify() -> None:
    text = SCRIPT.read_text()
    assert 'IRS_SOURCE_SHA256:?' in text and "sha256sum --check --strict" in text
    run = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode != 0 and "set IRS_SOURCE" in run.stderr  # stops before touching the system
