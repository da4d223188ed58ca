"""An edge device's own images: served where they were taken, with no upload, when that is sooner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from irs.aws import clients
from irs.fleet import reports
from irs.pools import EDGE
from irs.settings import get_settings
from tests.conftest import IMAGES, ROOT, Worker, wait_until

DEVICE = "pi-test"


def device_env(camera: Path, uplink_mbps: float) -> dict[str, str]:
    return {**os.environ, "IRS_DEVICE_ID": DEVICE, "IRS_LOCAL_IMAGE_DIR": str(camera),
            "IRS_UPLINK_MBPS": str(uplink_mbps)}


def irs_on_device(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irs.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def uploaded_from_device() -> list[str]:
    listing = clients.client("s3").list_objects_v2(Bucket=get_settings().input_bucket,
                                                   Prefix=f"uploads/devices/{DEVICE}/")
    return [entry["Key"] for entry in listing.get("Contents", ())]


@pytest.fixture
def device_worker(emulator, tmp_path):  # type: ignore[no-untyped-def]
    """The device's worker, as slow as a Pi (an emulated floor of 1.5 s): the shared edge queue plus the
    device's own, reading its camera directory."""
    camera = tmp_path / "camera"
    camera.mkdir()
    env = device_env(camera, uplink_mbps=5)
    added = irs_on_device(env, "edge", "add-device", DEVICE)  # its queue and identity, as an administrator makes them
    assert added.returncode == 0 and f"IRS_DEVICE_ID={DEVICE}" in added.stdout, added.stderr
    worker = Worker(DEVICE, "edge", concurrency=1, queues=f"edge,device-{DEVICE}",
                    extra_env={k: env[k] for k in ("IRS_DEVICE_ID", "IRS_LOCAL_IMAGE_DIR")} | {
                        "IRS_INSTANCE_ID": DEVICE, "IRS_SERVICE_FLOOR_MS": "1500"})
    try:
        wait_until(lambda: DEVICE in reports.read("edge"), 20, "the device worker's report")
        yield camera
    finally:
        worker.stop()
        assert irs_on_device(env, "edge", "remove-device", DEVICE).returncode == 0


def watch_once(camera: Path, image: str, uplink_mbps: float) -> dict[str, Any]:
    """Take one photo on the device (the only one in its directory) and let `irs edge watch` route it."""
    for old in camera.iterdir():
        old.unlink()
    shutil.copy(IMAGES / image, camera / image)
    run = irs_on_device(device_env(camera, uplink_mbps), "edge", "watch", str(camera), "--once", "--json")
    assert run.returncode == 0, run.stderr
    document: dict[str, Any] = json.loads(run.stdout)
    assert document["status"] == "ok"
    return document


def test_the_device_serves_its_own_images_without_upload_until_the_upload_pays_for_itself(
        device_worker, cloud_worker) -> None:  # type: ignore[no-untyped-def]
    # A new device's speed is a guess: its first image measures it, served where it was taken.
    first = watch_once(device_worker, "dog.jpg", uplink_mbps=0.1)
    assert first["routing"]["pool"] == f"device-{DEVICE}" and "measures it" in first["routing"]["reason"]
    assert first["source"].startswith("file://") and first["worker"].startswith(DEVICE)
    assert "dog" in first["summary"]
    wait_until(lambda: (reports.read("edge")[DEVICE].service_ms or 0) > 1000, 30, "the device's measured time")

    # Measured at 1.5 s, it still beats uploading 160 KB over a 0.1 Mb/s uplink (13 s).
    slow_link = watch_once(device_worker, "eagle.jpg", uplink_mbps=0.1)
    assert slow_link["routing"]["pool"] == f"device-{DEVICE}", slow_link["routing"]
    assert slow_link["routing"]["reason"].startswith(f"device-{DEVICE} answers in")
    assert uploaded_from_device() == []  # nothing has left the device

    # Over a fast uplink the cloud answers sooner: the image is uploaded, and the cloud serves it.
    fast_link = watch_once(device_worker, "giraffe.jpg", uplink_mbps=1000)
    assert fast_link["pool"] == "cloud" and fast_link["routing"]["pool"] == "cloud", fast_link["routing"]
    assert fast_link["source"].startswith("s3://")
    # Never the shared edge queue: another device would read this one's upload, and may not (SECURITY.md).
    assert all(EDGE not in d["routing"]["expected_s"] for d in (first, slow_link, fast_link))
    assert uploaded_from_device() == [f"uploads/devices/{DEVICE}/giraffe.jpg"]


def test_a_key_cannot_reach_outside_the_device_image_directory(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from irs.inference.imaging import BadImage
    from irs.worker.images import read_local

    (tmp_path / "camera").mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"not for the network")
    monkeypatch.setattr(get_settings(), "local_image_dir", tmp_path / "camera")
    with pytest.raises(BadImage, match="no image '../secret.jpg'"):
        read_local("../secret.jpg")
