"""A Raspberry Pi camera as a source of images: stills written into the directory `irs edge watch` watches.

picamera2 comes with Raspberry Pi OS (``sudo apt install python3-picamera2``)
and is not on PyPI in a form that builds elsewhere, so it is imported only
when a camera is asked for, and its absence is a clear error.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

#: What the watcher's unit allows besides the worker's sandbox when it drives the camera: libcamera opens the
#: sensor's V4L2 nodes (/dev/video*), its media controller (/dev/media*) and the DMA heaps its frame buffers come
#: from (/dev/dma_heap/*), as a member of the video group. Those devices and nothing else.
CAMERA_DEVICES = """PrivateDevices=no
DeviceAllow=char-video4linux rw
DeviceAllow=char-media rw
DeviceAllow=char-dma_heap rw
SupplementaryGroups=video"""


def sandbox(camera: bool) -> str:
    """The systemd settings that confine ``irs edge watch``: the worker's, and with the camera its devices."""
    from irs.worker.command import SANDBOX

    if not camera:
        return SANDBOX
    return SANDBOX.replace("PrivateDevices=yes", CAMERA_DEVICES)


class CameraUnavailable(RuntimeError):
    pass


def capture_stills(directory: Path, interval_s: float, stop: threading.Event) -> None:
    """Write a JPEG still into ``directory`` every ``interval_s`` until ``stop`` is set.

    Each still is written under a hidden name and renamed when complete, so the
    watcher never reads half a file.
    """
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ImportError:
        raise CameraUnavailable(
            "no camera support: picamera2 is not installed. On Raspberry Pi OS run "
            "`sudo apt install python3-picamera2` and make the venv with --system-site-packages "
            "(edge/install.sh --camera does both)") from None
    camera = Picamera2()
    camera.configure(camera.create_still_configuration())
    camera.start()
    try:
        while not stop.is_set():
            name = time.strftime("cam-%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}.jpg"
            partial = directory / f".{name}.part"
            camera.capture_file(str(partial), format="jpeg")
            os.replace(partial, directory / name)
            stop.wait(interval_s)
    finally:
        camera.stop()


def start(directory: Path, interval_s: float, stop: threading.Event) -> list[Exception]:
    """Take stills on a thread of their own; a camera that cannot start sets ``stop`` and leaves its error
    in the returned list."""
    errors: list[Exception] = []

    def run() -> None:
        try:
            capture_stills(directory, interval_s, stop)
        except CameraUnavailable as error:
            errors.append(error)
            stop.set()

    threading.Thread(target=run, name="irs-camera", daemon=True).start()
    return errors
