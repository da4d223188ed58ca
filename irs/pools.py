"""The pools a request can be served by, named once.

``cloud`` is the autoscaled EC2 fleet, ``edge`` the shared queue of the
Raspberry Pis; an edge device also serves a queue of its own,
``device-<name>``, for images taken on it. The cloud pool also serves the
``jobs`` queue: the requests of jobs over S3 (:mod:`irs.jobs`), taken only when
no interactive request is waiting in the worker, so a job of any size never
delays the web page or ``irs classify``.
"""

from __future__ import annotations

CLOUD = "cloud"
EDGE = "edge"
POOLS = (CLOUD, EDGE)
#: The queue of jobs' requests: served by the cloud pool after its own queue, never routed to or moved.
JOBS = "jobs"
#: Seconds a cloud worker process spends on one image: the IRS worker CPU per image (its pool process and
#: its share of the consumer) of the throughput benchmark's run of record (bench/throughput.py,
#: BENCHMARKS.md: 24.5 ms on ONNX Runtime, 2026-12-04). The router assumes it until the cloud reports its own;
#: the autoscaler sizes the fleet by it; the simulators run with it.
CLOUD_SERVICE_S = 0.025
DEVICE_QUEUE_PREFIX = "device-"
#: Every pool name: the two pools, or a device's own queue (device names as SQS queue names allow them).
POOL_PATTERN = r"^(cloud|edge|device-[A-Za-z0-9_-]{1,64})$"


def served_by(pool: str) -> tuple[str, ...]:
    """The queues a worker of ``pool`` consumes, in the order it prefers them."""
    return (CLOUD, JOBS) if pool == CLOUD else (pool,)


def device_queue(device_id: str | None) -> str | None:
    """The Celery queue of an edge device's own images, if there is a device."""
    return f"{DEVICE_QUEUE_PREFIX}{device_id}" if device_id else None
