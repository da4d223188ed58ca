"""Test fixtures: a real emulator on loopback, real worker processes, the shared models and photos.

Two tiers. A test that uses the emulator or the shared models and photos
(through the ``emulator`` or ``shared`` fixture, directly or through another
fixture) is marked ``integration`` here, automatically; the rest are pure and
run with ``pytest -m "not integration"`` on a machine with neither.

The environment is set here, before any test reads a setting, so every IRS
setting the tests see points at this session's own emulator.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from irs.pools import served_by
from irs.worker import command
from tests.helpers.ports import free_port

if TYPE_CHECKING:
    from xdist.workermanage import WorkerController

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("IRS_TEST_SHARED", ROOT.parent / "shared"))
IMAGES = SHARED / "images"
MODELS = SHARED / "models"
#: Logs of this test process's emulator, workers and web servers; each pytest-xdist worker (``make test`` runs
#: several) has a folder of its own, as it has an emulator, queues and worker processes of its own.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
ARTIFACTS = ROOT / "artifacts" / XDIST_WORKER if XDIST_WORKER else ROOT / "artifacts"


SOURCE_BUCKET = "irs-test-camera"
PORT = free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}"
EMULATOR_TOKEN = uuid.uuid4().hex  # what IRS's own tooling shows the emulator to use /moto-api
os.environ.update({
    "IRS_ENV_FILE": str(ROOT / "tests" / "no-such-env-file"),
    "IRS_ENDPOINT_URL": ENDPOINT,
    "IRS_MODEL_DIR": str(MODELS),
    "IRS_CACHE_DIR": str(ROOT / ".irs" / "test-cache" / (XDIST_WORKER or "main")),
    "IRS_QUEUE_PREFIX": f"irs-test-{uuid.uuid4().hex[:6]}-",
    "IRS_SOURCE_BUCKETS": f"{SOURCE_BUCKET}/",  # a bucket of the user's own, made in the emulator by the tests
    # Workers stop (drain) within one receive: a short one ends every test's workers sooner.
    "IRS_SQS_WAIT_TIME_S": "2",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "IRS_EMULATOR_TOKEN": EMULATOR_TOKEN,
})
for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "IRS_BROKER_URL"):
    os.environ.pop(variable, None)


POISON_COUNTS = "poison-sent.json"
pytest_plugins = ["pytester"]  # for the test of IRS's own pytest plugin
INTEGRATION_FIXTURES = {"emulator", "shared"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the emulator or the shared data as ``integration``."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker leaves what it counted where the controller sums it (pytest_terminal_summary)."""
    sent = sys.modules.get("tests.broker.poison")
    if XDIST_WORKER and sent is not None and any(sent.SENT.values()):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / POISON_COUNTS).write_text(json.dumps(sent.SENT))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counted: Counter[str] = Counter()
    sent = sys.modules.get("tests.broker.poison")
    if sent is not None:
        counted.update(sent.SENT)
    if not XDIST_WORKER:  # the controller of a parallel run, or a run of one process
        for found in (ROOT / "artifacts").glob(f"gw*/{POISON_COUNTS}"):
            counted.update(json.loads(found.read_text()))
            found.unlink()
    if any(counted.values()):
        terminalreporter.write_line(f"poison messages sent to real workers: {dict(counted)}")


#: What the kernel logs when it ends a process from outside: the OOM killer, a fatal signal.
KERNEL_KILLS = ("Out of memory", "oom-kill", "Killed process", "segfault", "traps:", "general protection")


def pytest_testnodedown(node: WorkerController, error: object | None) -> None:
    """A pytest-xdist worker that died (rather than finished) says nothing itself; say what the kernel logged of
    processes it ended, so that the run's own output tells an OOM kill from a crash."""
    if error is None:
        return
    reporter = node.config.pluginmanager.get_plugin("terminalreporter")
    try:
        log = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired) as reading:
        log = [f"(the kernel's log could not be read: {reading})"]
    said = [line for line in log if any(word in line for word in KERNEL_KILLS)][-10:]
    reporter.write_line(f"{node.gateway.id} died ({error}); the kernel's last words on killed "
                        f"processes: " + ("\n  ".join(["", *said]) if said else "none"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared Darknet models and sample photos; the test fails, saying where to put them, without them."""
    missing = [str(p) for p in (IMAGES / "dog.jpg", MODELS / "yolo-fastest-1.1-xl") if not p.exists()]
    if missing:
        pytest.fail(f"the shared test data is missing: {', '.join(missing)}. Integration tests need the sample "
                    f"photos and Darknet models in {SHARED} (or set IRS_TEST_SHARED to where they are); "
                    'pytest -m "not integration" runs without them.', pytrace=False)
    return SHARED


def wait_until(condition: object, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _listening() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", PORT)) == 0


@pytest.fixture(scope="module")
def _mocked_aws_for_module() -> Iterator[None]:
    from irs.testing.eager import MockedAws

    with MockedAws():  # provisioning costs most of a second: once per module
        yield


@pytest.fixture
def mocked_aws(_mocked_aws_for_module: None) -> Iterator[None]:
    """S3, SQS and SNS mocked in this process and provisioned (no emulator: the fast tier); the buckets are
    emptied after each test."""
    yield
    from irs.aws import clients
    from irs.settings import get_settings

    s3, settings = clients.client("s3"), get_settings()
    for bucket in (settings.input_bucket, settings.results_bucket):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", ()):
                s3.delete_object(Bucket=bucket, Key=entry["Key"])


@pytest.fixture(scope="session")
def emulator(shared: Path) -> Iterator[str]:
    """The AWS emulator on loopback (moto's, or LocalStack with IRS_EMULATOR=localstack), provisioned like
    `irs provision` does."""
    log = (ARTIFACTS / "emulator.log")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    from irs.local.stack import emulator_command
    from irs.settings import get_settings

    argv, env = emulator_command(get_settings(), "127.0.0.1", PORT, dict(os.environ), ARTIFACTS / "localstack")
    child = subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(_listening, 30, "the emulator to listen")
        from irs.aws.provision import provision

        provision(say=lambda _: None)
        yield ENDPOINT
    finally:
        child.terminate()
        child.wait(10)


class Worker:
    """A real `celery -A irs worker` process, and its log."""

    def __init__(self, name: str, pool: str, concurrency: int, extra_env: dict[str, str] | None = None,
                 queues: str | None = None) -> None:
        self.log = ARTIFACTS / f"worker-{name}.log"
        env = {**os.environ, "IRS_POOL_NAME": pool, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        argv = command.argv(queues.split(",") if queues else served_by(pool), concurrency, name,
                            extra=("--without-heartbeat", "--without-gossip", "--without-mingle"))
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_until(lambda: "ready." in self.text() or self.process.poll() is not None, 60, f"worker {name}")
        assert self.process.poll() is None, f"worker {name} exited at start:\n{self.text()}"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="session")
def cloud_worker(emulator: str) -> Iterator[Worker]:
    worker = Worker("cloud", "cloud", concurrency=2)
    yield worker
    worker.stop()


@pytest.fixture
def upload(emulator: str):  # type: ignore[no-untyped-def]
    """Put bytes in the input bucket under a fresh key; returns the key."""
    from irs.aws import clients
    from irs.settings import get_settings

    def put(data: bytes, name: str = "image.jpg") -> str:
        key = f"uploads/test-{uuid.uuid4().hex[:10]}/{name}"
        clients.client("s3").put_object(Bucket=get_settings().input_bucket, Key=key, Body=data)
        return key

    return put


@pytest.fixture
def photo(shared: Path) -> object:
    def read(name: str) -> bytes:
        return (IMAGES / name).read_bytes()

    return read
