"""The two installers, run for real in a throwaway Debian root built from Debian's packages.

``debootstrap`` makes a minimal Debian 12 (with systemd, as on Raspberry Pi OS
and the worker image's base); the IRS wheel is built from this checkout; the
installers take their dependencies from the hashed lock file on PyPI and the
model from a mirror on loopback. Then the worker command of the installed unit
runs as user ``irs`` inside that root and classifies images against the
emulator, and the installed units are checked by that root's own systemd.
Slow (about two minutes, most of it downloads): marked ``installers``; ``make test`` runs it with the rest,
``make test-installers`` alone. It needs root (mount, chroot) and debootstrap, which ``make`` installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from irs.pools import EDGE
from irs.tasks import classify
from tests.conftest import ARTIFACTS, IMAGES, Worker
from tests.helpers.roots import MIRROR, edge_worker, in_root, model_mirror, mounted, run_logged, tree, unit, wheel

pytestmark = pytest.mark.installers
MODEL = "yolo-fastest-1.1"
DEVICE = "pi-in-a-root"


@pytest.fixture(scope="module")
def mirror() -> Iterator[str]:
    with model_mirror() as url:
        yield url


@pytest.fixture(scope="module")
def debian(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh Debian 12 root with the checkout's wheel and installers in /src, /proc and /dev mounted."""
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        pytest.fail("the installer test needs root and debootstrap (make test installs it)", pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "installers.log"
    log.write_text("")
    root = tmp_path_factory.mktemp("debian") / "root"
    run_logged(["debootstrap", "--variant=minbase", "--include=systemd", "bookworm", str(root), MIRROR], log)
    with mounted(root, log):
        yield root


@pytest.fixture(scope="module")
def pi(debian: Path, mirror: str) -> Path:
    """The Pi installer, run end to end."""
    in_root(debian, "/src/edge/install.sh", ARTIFACTS / "installers.log", IRS_MODEL=MODEL,
            IRS_MODEL_URL_BASE=f"{mirror}/{MODEL}", **wheel(debian))
    return debian


def test_the_pi_installer_runs_end_to_end_and_its_units_serve_images_as_user_irs(
        pi: Path, cloud_worker: Worker, upload: Any, photo: Any) -> None:
    assert unit(pi, "irs-edge.service")["User"] == unit(pi, "irs-edge-watch.service")["User"] == ["irs"]
    with edge_worker(pi, DEVICE, ARTIFACTS / "installed-edge-worker.log", ready_s=120) as worker:
        irs = next(int(line.split(":")[2]) for line in (pi / "etc/passwd").read_text().splitlines()
                   if line.startswith("irs:"))
        assert {os.stat(f"/proc/{pid}").st_uid for pid in tree(worker.process.pid)} == {irs}
        # The shared edge queue's work, from this machine: the Pi in the root serves it.
        # Named: the Pi holds only its lighter model, and a request names the deployment's otherwise.
        shared = classify.apply_async((upload(photo("dog.jpg"), "dog.jpg"), MODEL), queue=EDGE).get(timeout=120)
        assert shared["status"] == "ok" and "dog" in shared["summary"] and shared["task_id"] in worker.log.read_text()
        # The watcher's own command, once: a photo taken on the Pi becomes a routed request, answered.
        document = worker.watch_once(IMAGES / "eagle.jpg", timeout=180)
        assert document["status"] == "ok" and document["image_key"].endswith(f"devices/{DEVICE}/eagle.jpg")
        assert "bird" in document["summary"]


def test_the_installed_units_pass_systemd_analyze_in_that_root(pi: Path) -> None:
    for name in ("irs-edge.service", "irs-edge-watch.service"):
        verify = subprocess.run(["chroot", str(pi), "systemd-analyze", "verify", f"/etc/systemd/system/{name}"],
                                capture_output=True, text=True)
        assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run(["chroot", str(pi), "systemd-analyze", "security", "--offline=yes",
                               "/etc/systemd/system/irs-edge.service"],
                              capture_output=True, text=True)
    score = float(security.stdout.rsplit("Overall exposure level for", 1)[1].split(":")[1].split()[0])
    (ARTIFACTS / "installed-edge-security.txt").write_text(security.stdout)
    assert score <= 2.0, security.stdout[-2000:]


def test_the_worker_image_installer_runs_end_to_end_with_no_test_tool_and_no_global_pip_config(
        pi: Path, mirror: str) -> None:
    in_root(pi, "/src/deploy/worker-image.sh", ARTIFACTS / "installers.log", IRS_MODEL=MODEL,
            IRS_MODEL_URL_BASE=f"{mirror}/{MODEL}", **wheel(pi))
    baked = {p.name for p in (pi / "opt/irs/models" / MODEL).iterdir()}
    assert {f"{MODEL}.cfg", f"{MODEL}.weights"} <= baked
    assert (pi / "etc/irs/image.env").read_text().strip() == "IRS_MODEL_DIR=/opt/irs/models"
    listed = subprocess.run(["chroot", str(pi), "/opt/irs/.venv/bin/pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()
    assert "celery==" in listed and "opencv-python-headless==" in listed
    assert not [tool for tool in ("moto", "pytest", "playwright", "hypothesis") if f"\n{tool}==" in f"\n{listed}"]
    assert not (pi / "etc/pip.conf").exists()
    printed = subprocess.run(["chroot", "--userspec=irs:irs", str(pi), "/opt/irs/.venv/bin/irs", "worker", "--print"],
                             capture_output=True, text=True, env={"PATH": "/usr/sbin:/usr/bin:/bin"})
    assert printed.returncode == 0 and "celery" in printed.stdout, printed.stderr
