"""The web tier: an upload page, a status page, and the REST API under /api/v1 (OpenAPI at /docs).

Run it with ``irs web`` (``irs up`` starts it too), which serves the app
:func:`create_app` makes; importing this module makes none. Results reach it pushed
(:mod:`webapp.feed`), the pools' state is sampled in the background
(:mod:`webapp.monitor`), and uploads are checked by content before anything is
stored or enqueued (:mod:`webapp.uploads`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import make_asgi_app
from pydantic import BaseModel, Field

from irs import __version__
from irs.aws import clients
from irs.aws.clients import AWS_ERRORS, AWS_OR_NETWORK_ERRORS
from irs.aws.queues import queue_names
from irs.results import ResultDocument, image_key_of
from irs.settings import get_settings
from webapp.feed import ResultFeed
from webapp.monitor import Monitor
from webapp.uploads import WEB_PREFIX, Rejected, Upload, accept

STATIC = Path(__file__).parent / "static"
MAX_WAIT_S = 60.0
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers, beyond the files themselves


class ImageAccepted(BaseModel):
    request_id: str = Field(description="Ask GET /api/v1/results/{request_id} for the result.")
    filename: str = Field(description="The name the file was uploaded with (a label only).")
    image_key: str = Field(description="Where the server stored the image.")
    result_url: str
    format: str
    width: int
    height: int
    bytes: int


class ImagesAccepted(BaseModel):
    requests: list[ImageAccepted]


class Problem(BaseModel):
    detail: str
    problems: dict[str, str] = Field(default_factory=dict, description="Each bad file, and what is wrong with it.")


class ResultList(BaseModel):
    results: list[ResultDocument]


def create_app() -> FastAPI:
    feed, monitor = ResultFeed(), Monitor()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(feed.start, WEB_PREFIX)
        monitor.start()
        yield
        monitor.close()
        await asyncio.to_thread(feed.close)

    app = FastAPI(title="IRS: Image Recognition as a Service", version=__version__, lifespan=lifespan,
                  description="Upload images, get back the objects in them. Results arrive pushed; "
                              "`GET /api/v1/results/{id}?wait=30` waits for one without polling.")
    app.state.feed, app.state.monitor = feed, monitor
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/metrics", make_asgi_app())  # Prometheus: queues, results, stage latencies, autoscaler, routing

    @app.middleware("http")
    async def limit_upload_size(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                                ) -> Response:
        """Refuse an oversized upload from its Content-Length, before reading a byte of it."""
        if request.method == "POST" and request.url.path == "/api/v1/images":
            settings = get_settings()
            limit = settings.web_max_files * settings.max_image_bytes + MULTIPART_OVERHEAD
            length = request.headers.get("content-length")
            if length is None:
                return JSONResponse({"detail": "send a Content-Length header"}, status_code=411)
            if not length.isdigit() or int(length) > limit:
                return JSONResponse({"detail": f"the request is {length} bytes, over the limit of {limit:,} "
                                               f"({settings.web_max_files} images of at most "
                                               f"{settings.max_image_bytes:,} bytes)"}, status_code=413)
        return await call_next(request)

    # --- pages ------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def upload_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/status", include_in_schema=False)
    async def status_page() -> FileResponse:
        return FileResponse(STATIC / "status.html")

    # --- the API ------------------------------------------------------------------------------------
    @app.post("/api/v1/images", status_code=202, response_model=ImagesAccepted, tags=["images"],
              responses={400: {"model": Problem}, 413: {"model": Problem}, 415: {"model": Problem},
                         503: {"model": Problem, "description": "Too much work queued; try after Retry-After"}})
    async def upload_images(files: Annotated[list[UploadFile], File(description="One or more images.")]
                            ) -> ImagesAccepted | JSONResponse:
        """Upload one or many images (multipart, field `files`); each becomes a classification request."""
        settings = get_settings()
        if not files:
            return _problem(400, "no files: send one or more images in the multipart field `files`")
        if len(files) > settings.web_max_files:
            return _problem(413, f"{len(files)} files, over the limit of {settings.web_max_files} per request")
        busy = _overloaded(monitor)
        if busy is not None:
            return busy
        uploads = [Upload(f.filename or "", await f.read(settings.max_image_bytes + 1)) for f in files]
        try:
            accepted = await asyncio.to_thread(accept, uploads)
        except Rejected as bad:
            return _problem(413 if bad.too_large else 415, "nothing was accepted: " + str(bad), bad.problems)
        return ImagesAccepted(requests=[ImageAccepted(
            request_id=a.request_id, filename=a.filename, image_key=a.image_key,
            result_url=f"/api/v1/results/{a.request_id}", format=a.image.format, width=a.image.width,
            height=a.image.height, bytes=a.image.bytes) for a in accepted])

    @app.get("/api/v1/results", response_model=ResultList, response_model_exclude_unset=True, tags=["results"])
    async def list_results(label: Annotated[str | None, Query(max_length=100, description="Only results that "
                                                              "found this label, e.g. dog")] = None,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ResultList:
        """Recent results, newest first."""
        return ResultList.model_validate({"results": feed.recent(label, limit)})

    @app.get("/api/v1/results/{request_id:path}", tags=["results"], response_model=ResultDocument,
             response_model_exclude_unset=True, responses={404: {"model": Problem, "description": "No result (yet)"}})
    async def get_result(request_id: str, wait: Annotated[float, Query(
            ge=0, le=MAX_WAIT_S, description="Seconds to wait for the result if it is not there yet")] = 0
                         ) -> Any:
        """One request's result document; with `wait`, a long poll that answers the moment it lands."""
        if image_key_of(request_id) is None:
            return _problem(404, f"{request_id!r} is not a request id this service made")
        document = await feed.wait(request_id, wait)
        if document is None:
            return _problem(404, f"no result for {request_id} yet; ask again, with ?wait=30 to wait for it")
        return document

    @app.get("/api/v1/images/{image_key:path}", tags=["images"], response_class=Response,
             responses={200: {"content": {"image/*": {}}}, 404: {"model": Problem}})
    async def get_image(image_key: str) -> Response:
        """An uploaded image, as stored (for thumbnails)."""
        if not image_key.startswith("uploads/") or ".." in image_key:
            return _problem(404, "no such image")
        try:
            found = await asyncio.to_thread(clients.client("s3").get_object, Bucket=get_settings().input_bucket,
                                            Key=image_key)
        except AWS_ERRORS:
            return _problem(404, "no such image (uploads expire after IRS_UPLOAD_TTL_DAYS)")
        body = await asyncio.to_thread(found["Body"].read)
        return Response(body, media_type=found.get("ContentType") or "application/octet-stream",
                        headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/v1/status", tags=["status"])
    async def status(history: bool = False) -> dict[str, Any]:
        """Queues, workers, the edge/cloud split and the autoscaler, sampled every 2 s."""
        if monitor.latest is None:
            await asyncio.to_thread(monitor.ready.wait, 10)
        body: dict[str, Any] = dict(monitor.latest or {})
        if history:
            body["history"] = [{"t": s["t"], "pools": {p["pool"]: {k: p[k] for k in (
                "waiting", "in_flight", "workers", "served")} for p in s["pools"]}} for s in monitor.history]
        return body

    # --- health -------------------------------------------------------------------------------------------
    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        """The process answers."""
        return {"status": "live"}

    @app.get("/health/ready", tags=["health"], response_model=None, responses={503: {"model": Problem}})
    async def ready() -> dict[str, Any] | JSONResponse:
        """Ready to take work: the broker and both buckets answer, and results are being received."""
        checks = await asyncio.to_thread(_readiness, feed, monitor)
        if all(checks.values()):
            return {"status": "ready", "checks": checks}
        return JSONResponse({"detail": "not ready", "checks": checks}, status_code=503)

    return app


def _readiness(feed: ResultFeed, monitor: Monitor) -> dict[str, bool]:
    settings = get_settings()
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
    checks["status_sampler"] = monitor.fresh()
    return checks


def _overloaded(monitor: Monitor) -> JSONResponse | None:
    """503 with Retry-After when more is queued than the fleet can serve in time."""
    limit = get_settings().web_max_backlog
    backlog = monitor.backlog()
    if backlog is None or backlog <= limit:
        return None
    history = list(monitor.history)
    served = [sum(p["served"] for p in s["pools"]) for s in history[-6:]]
    span = history[-1]["t"] - history[-6:][0]["t"] if len(history) > 1 else 0
    rate = (served[-1] - served[0]) / span if span > 0 else 0
    retry = min(120, max(1, math.ceil((backlog - limit) / rate))) if rate > 0 else 30
    response = _problem(503, f"{backlog} requests are queued, over this service's limit of {limit}; "
                             f"try again in {retry} s")
    response.headers["Retry-After"] = str(retry)
    return response


def _problem(status: int, detail: str, problems: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "problems": problems or {}}, status_code=status)

