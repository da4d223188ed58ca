"""The Raspberry Pi installer: valid bash, a service that starts at boot, restarts, and serves the edge queue."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

SCRIPT = ROOT / "edge" / "install.sh"


def test_the_installer_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_the_service_consumes_the_edge_queue_restarts_and_survives_reboots() -> None:
    text = SCRIPT.read_text()
    assert "ExecStart=$PREFIX/.venv/bin/irs worker" in text and "IRS_POOL_NAME=edge" in text
    assert "Restart=on-failure" in text and "WantedBy=multi-user.target" in text and "systemctl enable" in text


def test_the_pi_watches_its_image_directory_and_creates_no_queue_of_its_own() -> None:
    """Its queue and identity come from `irs edge add-device` (an administrator's): a device may create none."""
    text = SCRIPT.read_text()
    assert "irs edge watch $IMAGE_DIR" in text and "IRS_LOCAL_IMAGE_DIR=$IMAGE_DIR" in text
    assert "irs edge add-device" in text and "provision" not in text


def test_both_installers_install_from_the_hashed_lock_into_a_temporary_directory_and_leave_pip_conf_alone(
        ) -> None:
    shared = (ROOT / "deploy" / "install-irs.sh").read_text()
    assert "--require-hashes" in shared and 'mktemp -d' in shared and "PIP_CONFIG_FILE=/dev/null" in shared
    for script in (SCRIPT, ROOT / "deploy" / "worker-image.sh"):
        text = script.read_text()
        assert "install-irs.sh" in text and "install_irs " in text, script
        assert "pip.conf" not in text and "/tmp/" not in text and "pip\" install" not in text, script


def test_the_lock_pins_every_file_by_hash_and_holds_no_test_tool() -> None:
    lock = (ROOT / "deploy" / "requirements.lock").read_text()
    pins = re.findall(r"^([a-z0-9._-]+)==(\S+) \\$", lock, re.M)
    assert len(pins) > 40 and lock.count("--hash=sha256:") >= len(pins)
    names = {name for name, _ in pins}
    assert {"celery", "kombu", "boto3", "opencv-python-headless", "pydantic"} <= names
    assert not names & {"moto", "pytest", "playwright", "hypothesis", "ruff", "mypy", "cfn-lint"}
    tested = dict(re.findall(r"^([a-z0-9._-]+)(?:\[\w+\])?==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M))
    assert {n: v for n, v in pins if n in tested} == {n: v for n, v in tested.items() if n in names}


def test_the_installer_refuses_a_package_it_cannot_verify() -> None:
    text = SCRIPT.read_text()
    assert 'IRS_SOURCE_SHA256:?' in text
    assert "sha256sum --check --strict" in (ROOT / "deploy" / "install-irs.sh").read_text()
    run = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode != 0 and "set IRS_SOURCE" in run.stderr  # stops before touching the system


def test_both_installers_create_the_cache_user_irs_fetches_the_model_into() -> None:
    """`irs model fetch` runs as user irs with IRS_CACHE_DIR under root-owned /opt/irs: the directory must be
    made for irs first, or the fetch fails and `set -e` stops the install."""
    for script in (SCRIPT, ROOT / "deploy" / "worker-image.sh"):
        text = script.read_text()
        cache = re.search(r"sudo -u irs env IRS_CACHE_DIR=(\S+) ", text)
        assert cache, script
        made = [line for line in text.splitlines() if line.startswith("install -d -o irs -g irs")]
        fetch_line = text[:cache.start()].count("\n")
        assert any(cache[1].strip('"') in line.replace('"', "") for line in made), script
        assert all(text.splitlines().index(line) < fetch_line for line in made if cache[1].strip('"') in
                   line.replace('"', "")), f"{script}: the cache is made after the fetch"
