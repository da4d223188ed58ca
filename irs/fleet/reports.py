"""What each worker says about itself: busy or idle, how many images it has done, whether it drains.

Workers write a small JSON report to ``fleet/<pool>/<instance id>.json`` in the
results bucket when their state changes and as a heartbeat (see
:mod:`irs.fleet.liveness`); the autoscaler and the router read them to know
which workers live, which are busy and how fast images are completed.
"""

from __future__ import annotations

import time

from irs.aws import documents
from irs.aws.clients import AWS_ERRORS
from irs.fleet.liveness import alive
from irs.fleet.schemas import REPORTS_PREFIX, WorkerReport


def write(report: WorkerReport) -> None:
    documents.put(report.key, report.model_dump(mode="json"))


def remove(report: WorkerReport) -> None:
    documents.remove(report.key)


def read(pool: str, now: float | None = None) -> dict[str, WorkerReport]:
    """The reports of a pool's live workers, by instance id."""
    now = time.time() if now is None else now
    found: dict[str, WorkerReport] = {}
    for key, modified in documents.listing(f"{REPORTS_PREFIX}{pool}/"):
        if not alive(modified.timestamp(), now):
            continue
        try:
            report = documents.read(key, WorkerReport, belongs=_own_key)
        except AWS_ERRORS:
            continue  # gone since the listing
        if report is not None:
            found[report.instance_id] = report
    return found


def _own_key(report: WorkerReport, key: str) -> bool:
    """Only a worker's own report speaks for it: its pool and instance id name the key it is stored at."""
    return report.key == key
