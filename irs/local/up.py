"""``irs up``: the whole local stack in one process tree, and nothing left behind.

Starts the emulator (unless one already answers at the endpoint), provisions
queues and buckets, starts the always-on cloud worker, an emulated edge
worker, the autoscaler (with the janitor), the web app and Flower, runs the
demo, then waits for Ctrl-C or SIGTERM and stops every process it started.
Meanwhile it supervises them as systemd supervises a deployment's units: a
child that dies is restarted after a growing wait, with the reason said; only
the emulator's death ends the stack, since the queues and buckets it held, and
every request waiting in them, are gone with it.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irs.local import stack
from irs.pools import CLOUD, EDGE, served_by
from irs.settings import LOCAL_ENDPOINT, Settings, env_file, get_settings
from irs.worker import command

ALWAYS_ON_ID = "local-always-on"
EMULATED_EDGE_ID = "local-edge-emulated"
EMULATED_EDGE_MODEL = "yolo-fastest-1.1"
STATE_DIR = Path(".irs")
Show = Callable[[Iterable[dict[str, Any]], Callable[[], None]], list[str]]  # documents, called per document -> outcomes


@dataclass(frozen=True)
class Options:
    concurrency: int | None
    demo_dir: Path | None
    demo: bool
    boot_delay_s: float
    edge_floor_ms: float


def run(options: Options, say: stack.Say, show: Show) -> None:
    """Run the stack until SIGTERM or SIGINT; raises SystemExit(1) if it cannot start or a child dies."""
    from irs.autoscale.providers.local import LocalProvider

    try:
        held = stack.hold(STATE_DIR)  # before irs.env or the registry is touched: they are the holder's
    except stack.Taken as taken:
        say(f"irs up refused: {taken}")
        raise SystemExit(1) from None
    initial = Settings(_env_file=env_file())  # type: ignore[call-arg]
    endpoint = initial.endpoint_url or LOCAL_ENDPOINT
    # The emulator takes any credentials: the user's own AWS keys are never copied into irs.env or children.
    values = {"IRS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
              "IRS_EMULATOR_TOKEN": os.environ.get("IRS_EMULATOR_TOKEN") or secrets.token_urlsafe(16),
              "IRS_MONITORING": os.environ.get("IRS_MONITORING", "true")}  # Flower, inspect and events
    for variable in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(variable, None)
    if initial.model_dir:
        values["IRS_MODEL_DIR"] = str(initial.model_dir.resolve())
    os.environ.update(values)  # before anything in this process reads the settings for AWS
    settings = get_settings()
    env = dict(os.environ)

    signal.signal(signal.SIGTERM, stack.raise_stopped)
    signal.signal(signal.SIGINT, stack.raise_stopped)
    procs = stack.Stack(STATE_DIR / "logs", say=say)
    fleet = LocalProvider(STATE_DIR, boot_delay_s=options.boot_delay_s)
    written: Path | None = None
    try:
        _ensure_model(settings.model, say)
        _ensure_model(EMULATED_EDGE_MODEL, say)
        stack.start_emulator(procs, endpoint, env)
        from irs.aws.provision import provision

        provision(settings, say=lambda line: say(f"  {line}"))
        written = stack.write_env_file(values)
        # The always-on worker is a host of the autoscaler's fleet: if it dies, the autoscaler launches another
        # always-on one, as it does on EC2; restarting it here too would make two.
        processes = options.concurrency or settings.concurrency
        worker = procs.start("worker-cloud", command.argv(served_by(CLOUD), processes, CLOUD),
                             {**env, "IRS_INSTANCE_ID": ALWAYS_ON_ID, "IRS_ALWAYS_ON": "true"},
                             replaced_by="the autoscaler")
        fleet.register(ALWAYS_ON_ID, worker.pid, always_on=True)
        procs.start("worker-edge", command.argv(served_by(EDGE), 1, EDGE),
                    {**env, "IRS_INSTANCE_ID": EMULATED_EDGE_ID, "IRS_POOL_NAME": EDGE,
                     "IRS_SERVICE_FLOOR_MS": str(options.edge_floor_ms), "IRS_MODEL": EMULATED_EDGE_MODEL})
        procs.start("autoscaler", [sys.executable, "-m", "irs.cli", "autoscale", "--provider", "local",
                                   "--boot-delay", str(options.boot_delay_s)], env)
        web_url = f"http://{settings.web_host}:{settings.web_port}"
        procs.start("web", [sys.executable, "-m", "irs.cli", "web"], env)
        flower = _start_flower(procs, settings, env) if settings.monitoring else None
        procs.wait_for("worker-cloud", "ready.", supervised=True)
        say("worker ready")
        if options.demo and options.demo_dir and options.demo_dir.is_dir():
            _demo(options.demo_dir, procs, say, show)
        elif options.demo:
            say("no demo images (set IRS_DEMO_IMAGES or --demo-dir); skipping the demo")
        procs.wait_for("web", "Application startup complete", supervised=True)
        say(f"\nIRS is up: web app and API at {web_url} (status: {web_url}/status, API docs: {web_url}/docs); "
            f"AWS emulated at {endpoint}.")
        if flower:
            say(f"Flower at {flower[0]} (user irs, password {flower[1]})")
        say("In another shell, from this directory:\n"
            "  .venv/bin/irs classify path/to/image.jpg\n  .venv/bin/irs status\n"
            "  .venv/bin/celery -A irs inspect ping\n"
            "Press Ctrl-C to stop.")
        while True:
            procs.supervise()
            time.sleep(1)
    except stack.Stopped:
        say("\nstopping...")
    except stack.Lost as lost:
        say(f"irs up failed: {lost}. The queues and buckets were the emulator's: every request waiting in "
            "them, and every stored image and result, is lost. Run irs up again to start afresh.")
        raise SystemExit(1) from None
    except Exception as error:  # noqa: BLE001 - every failure is reported, then everything stops
        say(f"irs up failed: {error}")
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.stop("autoscaler")  # first, so it starts nothing new while the fleet drains
        fleet.stop_all()
        procs.stop()
        if written:
            written.unlink(missing_ok=True)
        os.close(held)
        say("stopped")


def _start_flower(procs: stack.Stack, settings: Settings, env: dict[str, str]) -> tuple[str, str]:
    """Flower on loopback, with a fresh password (in its environment: a command line is visible to every user);
    its API can stop workers."""
    password = secrets.token_urlsafe(12)
    procs.start("flower", [sys.executable, "-m", "celery", "-A", "irs", "flower", "--address=127.0.0.1",
                           f"--port={settings.flower_port}"], {**env, "FLOWER_BASIC_AUTH": f"irs:{password}"})
    return f"http://127.0.0.1:{settings.flower_port}", password


def _ensure_model(name: str, say: stack.Say) -> None:
    from irs.inference.registry import ModelError, fetch, resolve

    try:
        resolve(name)
    except ModelError:
        say(f"model {name} is not installed; fetching it")
        fetch(name)


def _demo(directory: Path, procs: stack.Stack, say: stack.Say, show: Show) -> None:
    from irs.client import collect, submit_files
    from irs.image_files import expand

    files = expand((directory,))
    say(f"demo: classifying {len(files)} images from {directory}")
    begin = time.monotonic()
    show(collect(submit_files(files), 120), procs.supervise)
    say(f"demo: {len(files)} images in {time.monotonic() - begin:.1f} s")
