"""What each worker says about itself: busy or idle, how many images it has done, whether it drains.

Workers write a small JSON report to ``fleet/<pool>/<instance id>.json`` in the
results bucket when their state changes (at most every few seconds) and as a
heartbeat; the autoscaler reads them to know which workers are busy and how
fast images are completed. A report older than ``STALE_S`` is a worker that
is gone.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from botocore.exceptions import BotoCoreError, ClientError

from irs import aws
from irs.settings import get_settings

PREFIX = "fleet/"
STALE_S = 120.0


@dataclass(frozen=True)
class WorkerReport:
    instance_id: str
    pool: str
    always_on: bool
    busy: bool
    idle_since: float | None
    processed: int  # images finished since the worker started
    started_at: float
    updated_at: float
    draining: bool = False
    slots: int = 1  # tasks it runs at once (worker processes)
    service_ms: float | None = None  # how long its recent tasks took (moving average)
    device: str | None = None  # the edge device it runs on, whose own queue it also serves

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.pool}/{self.instance_id}.json"


def write(report: WorkerReport) -> None:
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=report.key,
                                Body=json.dumps(asdict(report)), ContentType="application/json")


def remove(report: WorkerReport) -> None:
    aws.client("s3").delete_object(Bucket=get_settings().results_bucket, Key=report.key)


def read(pool: str, now: float | None = None) -> dict[str, WorkerReport]:
    """The fresh reports of a pool's workers, by instance id."""
    s3, bucket = aws.client("s3"), get_settings().results_bucket
    now = time.time() if now is None else now
    found: dict[str, WorkerReport] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}{pool}/"):
        for entry in page.get("Contents", ()):
            if now - entry["LastModified"].timestamp() > STALE_S:
                continue
            try:
                body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                report = WorkerReport(**json.loads(body))
            except (ClientError, BotoCoreError, ValueError, TypeError):
                continue  # gone since the listing, or not a report
            found[report.instance_id] = report
    return found
