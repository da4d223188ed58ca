"""``irs edge``: commands for an edge device (a Raspberry Pi with a camera)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from irs.cli.output import err, out, show
from irs.settings import get_settings


@click.group()
def edge() -> None:
    """Commands for an edge device (a Raspberry Pi with a camera)."""


@edge.command("watch")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one result document per line.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between looks at the directory.")
@click.option("--once", is_flag=True, help="Classify what is there now, then exit.")
@click.option("--camera", "camera_every", type=float, default=None, metavar="SECONDS",
              help="Also take a still with the Pi camera (picamera2) every SECONDS into DIRECTORY.")
@click.option("--print-sandbox", is_flag=True, help="Print the systemd settings that confine this watcher (with "
              "--camera, the camera's devices too), as the Pi installer puts them in its unit.")
def edge_watch(directory: Path, as_json: bool, interval: float, once: bool, camera_every: float | None,
               print_sandbox: bool) -> None:
    """Turn every new image in DIRECTORY into a request, routed to wherever it is answered sooner.

    On an edge device whose IRS_LOCAL_IMAGE_DIR is DIRECTORY, an image can be
    served by the device itself without being uploaded; elsewhere every image
    is uploaded and goes to the edge or the cloud queue.
    """
    from irs.client import collect, submit_files
    from irs.edge import camera
    from irs.edge.submit import submit_from_device
    from irs.edge.watch import watch

    if print_sandbox:
        click.echo(camera.sandbox(camera_every is not None))
        return
    settings = get_settings()
    on_device = bool(settings.device_id and settings.local_image_dir
                     and settings.local_image_dir.resolve() == directory.resolve())
    if settings.device_id and not on_device:
        err.print(f"{directory} is not IRS_LOCAL_IMAGE_DIR: its images are uploaded, not served on this device",
                  style="yellow", markup=False, highlight=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    camera_errors = camera.start(directory, camera_every, stop) if camera_every is not None else []
    where = f" on device {settings.device_id}" if on_device else ""
    err.print(f"watching {directory}{where} (Ctrl-C to stop)", markup=False, highlight=False)

    def handle(new: list[Path]) -> None:
        submitted = submit_from_device(new, directory) if on_device else submit_files(new)
        show(collect(submitted, timeout=300), as_json, lambda: None)

    watch(directory, handle, stop, interval, once)
    if camera_errors:
        raise click.ClickException(str(camera_errors[0]))


@edge.command("add-device")
@click.argument("name")
def add_device(name: str) -> None:
    """Give edge device NAME its own queue and IAM identity; print the settings for its /etc/irs/irs.env.

    Run it with an administrator's credentials, where `irs deploy` wrote irs.env.
    The secret key is printed once: put the lines in the device's env file.
    """
    from irs.deploy.devices import DeviceError, add

    try:
        values = add(name, say=lambda line: err.print(line, highlight=False, markup=False))
    except DeviceError as error:
        raise click.ClickException(str(error)) from None
    out.print(f"# IRS edge device {name}: put these lines in /etc/irs/irs.env on the device", highlight=False,
              markup=False)
    for key, value in values.items():
        out.print(f"{key}={value}", highlight=False, markup=False)


@edge.command("remove-device")
@click.argument("name")
def remove_device(name: str) -> None:
    """Revoke edge device NAME: delete its keys, its IAM user and its queue."""
    from irs.deploy.devices import DeviceError, remove

    try:
        remove(name, say=lambda line: err.print(line, highlight=False, markup=False))
    except DeviceError as error:
        raise click.ClickException(str(error)) from None
