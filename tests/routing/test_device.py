"""An edge device's own images: served where they were taken, with no upload, when that is sooner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from irs import aws, fleet
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
    listing = aws.client("s3").list_objects_v2(Bucket=get_settings().input_bucket, Prefix=f"uploads/devices/{DEVICE}/")
    return [entry["Key"] for entry in listing.get("Contents", ())]


@pytest.fixture
def device_worker(emulator, tmp_path):  # type: ignore[no-untyped-def]
    """The device's worker: the shared edge queue plus the device's own, reading its camera directory."""
    camera = tmp_path / "camera"
    camera.mkdir()
    env = device_env(camera, uplink_mbps=5)
    assert irs_on_device(env, "provision", "--device-only").returncode == 0
    worker = Worker(DEVICE, "edge", concurrency=1, queues=f"edge,device-{DEVICE}",
                    extra_env={k: env[k] for k in ("IRS_DEVICE_ID", "IRS_LOCAL_IMAGE_DIR")} | {
                        "IRS_INSTANCE_ID": DEVICE})
    try:
        wait_until(lambda: DEVICE in fleet.read("edge"), 20, "the device worker's report")
        yield camera
    finally:
        worker.stop()


def test_on_a_slow_uplink_the_device_serves_its_own_image_without_uploading_it(device_worker, cloud_worker
                                                                              ) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(IMAGES / "dog.jpg", device_worker / "dog.jpg")
    run = irs_on_device(device_env(device_worker, uplink_mbps=0.1), "edge", "watch", str(device_worker),
                        "--once", "--json")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["status"] == "ok" and "dog" in document["summary"]
    assert document["routing"]["pool"] == f"device-{DEVICE}", document["routing"]
    assert document["source"].startswith("file://") and document["worker"].startswith(DEVICE)
    assert uploaded_from_device() == []  # the image never left the device


def test_on_a_fast_uplink_the_same_image_is_uploaded_and_the_cloud_answers(device_worker, cloud_worker
                                                                          ) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(IMAGES / "eagle.jpg", device_worker / "eagle.jpg")
    run = irs_on_device(device_env(device_worker, uplink_mbps=1000), "edge", "watch", str(device_worker),
                        "--once", "--json")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["pool"] == "cloud" and document["routing"]["pool"] == "cloud"
    assert document["source"].startswith("s3://")
    assert uploaded_from_device() == [f"uploads/devices/{DEVICE}/eagle.jpg"]


def test_a_key_cannot_reach_outside_the_device_image_directory(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from irs.imaging import BadImage
    from irs.tasks import read_local

    (tmp_path / "camera").mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"not for the network")
    monkeypatch.setattr(get_settings(), "local_image_dir", tmp_path / "camera")
    with pytest.raises(BadImage, match="no image '../secret.jpg'"):
        read_local("../secret.jpg")
