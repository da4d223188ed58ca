"""One fault, end to end: a batch of images in flight through the fault proxy, then what came of them.

Used by the fault tests (tests/faults/test_faults.py) and by the fault table's
benchmark (bench/faults.py). A real worker and the real ``irs classify`` talk
to the emulator only through a :class:`~tests.faults.proxy.FaultProxy`, on
queues of their own (their own queue prefix), so nothing else in the test
session consumes their messages; the counts are read from the emulator
directly, past the proxy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from irs.aws import clients
from irs.pools import CLOUD, EDGE, served_by
from irs.settings import get_settings
from tests.faults.proxy import Fault, FaultProxy

ROOT = Path(__file__).resolve().parents[2]
SERVICE_FLOOR_MS = 200  # each image takes at least this long, so a batch is still in flight when a fault hits
CONCURRENCY = 2
CLIENT_TIMEOUT_S = 400


@dataclass
class Outcome:
    """What one fault did to one batch: the fault table's row, and what a test checks."""

    fault: str
    in_flight: int
    reported: int  # results the client printed
    results: int  # images with at least one result document
    lost: int
    duplicates: int  # result documents beyond one per image
    failed: int  # result documents that are not "ok"
    recover_s: float  # from the end of the fault to the client's last result
    worker_restarts: int  # worker processes (main or pool) that are not the ones from before
    client_exit: int
    injected: dict[str, int] = field(default_factory=dict)
    beside: dict[str, int] = field(default_factory=dict)  # a second owner's batch sent beside it: lost, twice
    worker_log: str = ""
    client_log: str = ""


class Rig:
    """The proxy, a worker behind it (its main process and pool), and the environment of a client behind it."""

    def __init__(self, emulator_port: int, workdir: Path, images: list[Path], count: int,
                 env: dict[str, str] | None = None) -> None:
        self.proxy = FaultProxy(emulator_port).start()
        self.prefix = f"irs-faults-{uuid.uuid4().hex[:6]}-"
        # Buckets of its own too: provisioning points a results bucket's notices at its own prefix's topic.
        self.results_bucket = f"{self.prefix}results"
        self.env = {**os.environ, "IRS_ENDPOINT_URL": f"http://127.0.0.1:{self.proxy.port}",
                    "IRS_QUEUE_PREFIX": self.prefix, "IRS_INPUT_BUCKET": f"{self.prefix}uploads",
                    "IRS_RESULTS_BUCKET": self.results_bucket, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.workdir = workdir
        self.images = workdir / "images"
        shutil.rmtree(self.images, ignore_errors=True)
        self.images.mkdir(parents=True)
        for n in range(count):
            shutil.copy(images[n % len(images)], self.images / f"photo{n:03d}{images[n % len(images)].suffix}")
        subprocess.run([sys.executable, "-m", "irs.cli", "provision"], env=self.env, check=True, capture_output=True)
        self.worker_log = workdir / "faults-worker.log"
        self.worker_log.unlink(missing_ok=True)
        self.worker = self.start_worker()

    def start_worker(self) -> subprocess.Popen[bytes]:
        """A worker behind the proxy, appending to the rig's log; returns once it is ready."""
        log_start = self.worker_log.stat().st_size if self.worker_log.exists() else 0
        from irs.worker import command

        env = {**self.env, "IRS_POOL_NAME": "cloud", "IRS_SERVICE_FLOOR_MS": str(SERVICE_FLOOR_MS)}
        argv = command.argv([*served_by(CLOUD), EDGE], CONCURRENCY, "faults",
                            extra=("--without-heartbeat", "--without-gossip", "--without-mingle"))
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.worker_log.open("ab"),
                                   stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while b"ready." not in self.worker_log.read_bytes()[log_start:]:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker behind the proxy did not start:\n{self.worker_log.read_text()}")
            time.sleep(0.1)
        return process

    def pids(self) -> set[int]:
        """The worker's main process and its pool's."""
        out = subprocess.run(["pgrep", "-P", str(self.worker.pid)], capture_output=True, text=True).stdout
        return {self.worker.pid, *(int(pid) for pid in out.split())} if self.worker.poll() is None else set()

    def queued(self) -> int:
        """Messages on the rig's queues (waiting, received or delayed), read past the proxy."""
        sqs, total = clients.client("sqs"), 0
        for pool in (*served_by(CLOUD), EDGE):
            url = sqs.get_queue_url(QueueName=f"{self.prefix}{pool}")["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            total += sum(int(attributes[name]) for name in ("ApproximateNumberOfMessages",
                                                             "ApproximateNumberOfMessagesNotVisible",
                                                             "ApproximateNumberOfMessagesDelayed"))
        return total

    def close(self) -> None:
        if self.worker.poll() is None:
            os.killpg(self.worker.pid, 15)
            try:
                self.worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, 9)
                self.worker.wait()
        self.proxy.stop()


@contextmanager
def module_rig(name: str, images: int, env: dict[str, str] | None = None) -> Iterator[Rig]:
    """A rig for a test module: this session's emulator, the sample photos, its logs under ``artifacts/NAME``."""
    from tests.conftest import ARTIFACTS, IMAGES, PORT

    rig = Rig(PORT, ARTIFACTS / name, sorted(IMAGES.glob("*.jpg")), images, env)
    try:
        yield rig
    finally:
        rig.close()


def result_documents(rig: Rig, batch: str) -> Counter[str]:
    """Result documents per image of ``batch``, read past the proxy."""
    settings, per_image = get_settings(), Counter[str]()
    pages = clients.client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=rig.results_bucket, Prefix=f"{settings.results_prefix}uploads/{batch}/")
    for page in pages:
        for entry in page.get("Contents", ()):
            per_image[entry["Key"].removeprefix(settings.results_prefix).rsplit("/", 1)[0]] += 1
    return per_image


@contextmanager
def _client(rig: Rig, name: str = "faults-client", images: Path | None = None, owner: str | None = None
            ) -> Iterator[subprocess.Popen[bytes]]:
    out, err = rig.workdir / f"{name}.out", rig.workdir / f"{name}.err"
    process = subprocess.Popen([sys.executable, "-m", "irs.cli", "classify", "--json", "--timeout",
                                str(CLIENT_TIMEOUT_S), *(("--owner", owner) if owner else ()),
                                str(images or rig.images)], env=rig.env, stdout=out.open("wb"),
                               stderr=err.open("wb"))
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def run(rig: Rig, fault: Fault | None, share: float = 0.2, window_s: float = 10.0, refuse_s: float = 0.0,
        in_flight_first: bool = False) -> Outcome:
    """Send every image with ``irs classify``; hit ``share`` of the matching requests with ``fault`` for
    ``window_s`` from the start (uploads, sends, receives, results), or from once the whole batch is in flight
    (``in_flight_first``); or, with ``refuse_s``, refuse every connection for that long once the whole batch is in
    flight; then count."""
    before, log_start = rig.pids(), rig.worker_log.stat().st_size
    rig.proxy.injected.clear()
    count = len(list(rig.images.iterdir()))
    with _client(rig) as client:
        in_flight = _wait_in_flight(rig, client, count) if refuse_s or in_flight_first else count
        if refuse_s:
            rig.proxy.refuse(refuse_s)
            time.sleep(refuse_s)
        else:
            rig.proxy.inject(fault, share)
            time.sleep(window_s)
            rig.proxy.inject(None)
        ended = time.monotonic()
        client.wait(CLIENT_TIMEOUT_S + 60)
        recover_s = max(0.0, time.monotonic() - ended) if client.returncode is not None else float("inf")
    return _outcome(rig, f"connections refused for {refuse_s:g} s" if refuse_s else
                    f"{fault.value} ({share:.0%} of requests, {window_s:g} s)" if fault else "none (the baseline)",
                    count, in_flight, recover_s, len(before - rig.pids()), client.returncode, log_start)


def _wait_in_flight(rig: Rig, client: subprocess.Popen[bytes], count: int) -> int:
    """Wait until the whole batch is queued (or all of it there will be: the count stopped growing for a second);
    returns how many messages are in flight."""
    deadline, peak, peaked_at = time.monotonic() + 120, 0, time.monotonic()
    while client.poll() is None and time.monotonic() < deadline:
        queued = rig.queued()
        if queued >= count or (queued and queued <= peak and time.monotonic() - peaked_at > 1):
            break
        if queued > peak:
            peak, peaked_at = queued, time.monotonic()
        time.sleep(0.05)
    return rig.queued()


def _outcome(rig: Rig, fault: str, count: int, in_flight: int, recover_s: float, restarts: int, client_exit: int,
             log_start: int) -> Outcome:
    """What came of a batch: the client's report, the documents in S3, and this run's part of the logs."""
    out = (rig.workdir / "faults-client.out").read_text()
    reported = [json.loads(line) for line in out.splitlines() if line.strip()]
    batches = {document["image_key"].split("/")[1] for document in reported}
    per_image = result_documents(rig, batches.pop()) if len(batches) == 1 else Counter[str]()
    return Outcome(
        fault=fault, in_flight=in_flight, reported=len(reported), results=len(per_image),
        lost=count - len(per_image), duplicates=sum(n - 1 for n in per_image.values()),
        failed=sum(1 for document in reported if document.get("status") != "ok"),
        recover_s=round(recover_s, 1), worker_restarts=restarts, client_exit=client_exit,
        injected=dict(rig.proxy.injected),
        worker_log=rig.worker_log.read_bytes()[log_start:].decode(errors="replace"),  # this run's part
        client_log=(rig.workdir / "faults-client.err").read_text(errors="replace"))


def _reported(rig: Rig) -> int:
    out = rig.workdir / "faults-client.out"
    return out.read_bytes().count(b"\n") if out.exists() else 0


def kill_worker(rig: Rig, draining: bool, after: int = 25, beside: int = 0) -> Outcome:
    """SIGKILL the worker's whole process group (main process and pool) once ``after`` results are in, while it
    works through the batch (or, with ``draining``, while it drains after a SIGTERM, as in a scale-in); start a
    new worker at once, as systemd or ``irs up`` would; then count. The messages the dead worker held come back
    after the queue's visibility timeout. With ``beside``, a second owner sends that many images at the same
    time (the batch's owner is past its share: most of its images wait in the later lane)."""
    log_start = rig.worker_log.stat().st_size
    rig.proxy.injected.clear()
    for name in ("faults-client", "second-owner"):
        (rig.workdir / f"{name}.out").unlink(missing_ok=True)
    count = len(list(rig.images.iterdir()))
    second = rig.workdir / "second-owner-images"
    second.mkdir(exist_ok=True)
    for n in range(beside):
        shutil.copy(sorted(rig.images.iterdir())[n], second / f"bob-{n:03d}.jpg")
    with _client(rig) as client, _client(rig, "second-owner", second, "bob") if beside else nullcontext() as other:
        deadline = time.monotonic() + 120
        while _reported(rig) < after and client.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        in_flight = count - _reported(rig)
        if draining:
            os.kill(rig.worker.pid, 15)
            while b"draining: no longer consuming" not in rig.worker_log.read_bytes()[log_start:]:
                if time.monotonic() > deadline:
                    raise AssertionError("the worker did not begin to drain")
                time.sleep(0.02)
        os.killpg(rig.worker.pid, 9)
        rig.worker.wait()
        killed = time.monotonic()
        rig.worker = rig.start_worker()
        client.wait(CLIENT_TIMEOUT_S + 60)
        recover_s = time.monotonic() - killed if client.returncode is not None else float("inf")
        if other is not None:
            other.wait(CLIENT_TIMEOUT_S + 60)
    outcome = _outcome(rig, "SIGKILL of the whole worker while it drains (scale-in)" if draining else
                       "SIGKILL of the whole worker mid-batch", count, in_flight, recover_s, 1, client.returncode,
                       log_start)
    if beside:
        reported = [json.loads(line) for line in (rig.workdir / "second-owner.out").read_text().splitlines()
                    if line.strip()]
        per_image = result_documents(rig, reported[0]["image_key"].split("/")[1]) if reported else Counter[str]()
        outcome.beside = {"lost": beside - len(per_image), "twice": sum(n - 1 for n in per_image.values()),
                          "not_ok": sum(d.get("status") != "ok" or d.get("owner") != "bob" for d in reported)}
    return outcome
