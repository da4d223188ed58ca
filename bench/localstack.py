"""A private local stack for benchmarks: its environment, and what its processes cost.

Each benchmark points IRS at its own emulator on a free port (before IRS is
imported), then reads CPU time from /proc and AWS requests from the
emulator's counter.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.helpers.ports import free_port as free_port  # noqa: E402 - the benchmarks' too
from tests.helpers.processes import rss_mb as rss_mb  # noqa: E402


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def configure_environment(port: int, log_dir: Path) -> None:
    """Point every IRS setting at a private emulator before IRS is imported."""
    shared = ROOT.parent / "shared"
    os.environ.update({
        "IRS_ENV_FILE": str(log_dir / "no-env-file"),
        "IRS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "IRS_QUEUE_PREFIX": "irs-bench-",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    })
    os.environ.setdefault("IRS_MODEL_DIR", str(shared / "models"))
    os.environ.setdefault("IRS_DEMO_IMAGES", str(shared / "images"))


@contextmanager
def private_environment(**settings: str) -> Iterator[Path]:
    """A scratch directory for one benchmark run, with IRS pointed at a private emulator on a free port (plus
    ``settings``, IRS_* variables), before IRS is imported."""
    with tempfile.TemporaryDirectory() as scratch:
        configure_environment(free_port(), Path(scratch))
        os.environ.update(settings)
        yield Path(scratch)


def process_tree(pid: int) -> list[int]:
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found.extend(process_tree(int(child)))
    return found


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
    return total


def aws_requests(endpoint: str, reset: bool = False) -> dict[str, int]:
    request = urllib.request.Request(f"{endpoint}/_irs/requests", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        counts: dict[str, int] = json.loads(response.read())
    return counts


def wait_for_reports(pools: set[str], timeout: float = 180) -> None:
    """Wait until a live worker of each pool has written its fleet report (its consumer's S3 client made)."""
    from irs.fleet import reports

    deadline = time.monotonic() + timeout
    while {pool for pool in pools if reports.read(pool)} != pools:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no fleet report from {', '.join(sorted(pools))} within {timeout:.0f} s")
        time.sleep(0.2)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()
