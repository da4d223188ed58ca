"""Images taken on an edge device, each sent where it is answered sooner: served on the device, or uploaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from irs.client import Submitted, upload
from irs.contract import ROUTE, UPLOAD_MS
from irs.routing import router
from irs.settings import get_settings
from irs.tasks import classify
from irs.worker.images import device_prefix


def submit_from_device(paths: Sequence[Path], directory: Path) -> list[Submitted]:
    """Route images taken on this edge device, one at a time as they appear.

    The router weighs the device's own queue (its worker reads the file where it
    is: no upload) against the shared edge queue and the cloud (the image is
    uploaded first, and the time that takes teaches the router the uplink).
    Keys are ``uploads/devices/<device>/<path in directory>`` either way.
    """
    prefix = device_prefix()
    if prefix is None:
        raise ValueError("not an edge device: set IRS_DEVICE_ID and IRS_LOCAL_IMAGE_DIR")
    root = directory.resolve()
    submitted = []
    for path in paths:
        key = prefix + path.resolve().relative_to(root).as_posix()
        size = path.stat().st_size
        choice = router.choose_for_local(size, get_settings().model)  # the model apply_async names
        headers: dict[str, Any] = {ROUTE: choice.as_header()}
        if choice.pool != get_settings().device_queue:
            headers[UPLOAD_MS] = upload(path, key)
            router.uploaded(size, headers[UPLOAD_MS] / 1000)
        result = classify.apply_async((key,), queue=choice.pool, headers=headers)
        submitted.append(Submitted(path, key, result.id))
    return submitted
