"""Health: live (the process answers), ready (it can take work), and the fleet's status for the status page."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from irs.aws import clients
from irs.aws.clients import AWS_OR_NETWORK_ERRORS
from irs.aws.queues import queue_names
from webapp.problems import Problem
from webapp.services import Authenticated, Services, Shared

router = APIRouter()
READY_WAIT_S = 10  # how long the first status request waits for the sampler's first look


@router.get("/api/v1/status", tags=["status"])
async def status(_: Authenticated, services: Shared, history: bool = False) -> dict[str, Any]:
    """Queues, workers, the edge/cloud split and the autoscaler, sampled every 2 s."""
    monitor = services.monitor
    if monitor.latest is None:
        await asyncio.to_thread(monitor.ready.wait, READY_WAIT_S)
    body: dict[str, Any] = dict(monitor.latest or {})
    if history:
        body["history"] = [{"t": s["t"], "pools": {p["pool"]: {k: p[k] for k in (
            "waiting", "in_flight", "workers", "served")} for p in s["pools"]}} for s in monitor.history]
    return body


@router.get("/health/live", tags=["health"])
async def live() -> dict[str, str]:
    """The process answers."""
    return {"status": "live"}


@router.get("/health/ready", tags=["health"], response_model=None, responses={503: {"model": Problem}})
async def ready(services: Shared) -> dict[str, Any] | JSONResponse:
    """Ready to take work: the broker and both buckets answer, and results are being received."""
    checks = await asyncio.to_thread(_readiness, services)
    if all(checks.values()):
        return {"status": "ready", "checks": checks}
    return JSONResponse({"detail": "not ready", "checks": checks}, status_code=503)


def _readiness(services: Services) -> dict[str, bool]:
    settings, feed = services.settings, services.feed
    checks = {}
    try:
        sqs = clients.client("sqs")
        for names in queue_names():
            sqs.get_queue_url(QueueName=names.queue)
        checks["broker"] = True
    except AWS_OR_NETWORK_ERRORS:
        checks["broker"] = False
    for name, bucket in (("uploads", settings.input_bucket), ("results", settings.results_bucket)):
        try:
            clients.client("s3").head_bucket(Bucket=bucket)
            checks[name] = True
        except AWS_OR_NETWORK_ERRORS:
            checks[name] = False
    checks["results_feed"] = bool(feed.thread and feed.thread.is_alive() and feed.subscription)
    checks["status_sampler"] = services.monitor.fresh()
    return checks
