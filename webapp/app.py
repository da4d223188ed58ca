"""The web tier: an upload page, a status page, and the REST API under /api/v1 (OpenAPI at /docs).

Run it with ``irs web`` (``irs up`` starts it too), which serves the app
:func:`create_app` makes; importing this module makes none. Results reach it pushed
(:mod:`webapp.feed`), the pools' state is sampled in the background
(:mod:`webapp.monitor`), and uploads are checked by content before anything is
stored or enqueued (:mod:`webapp.uploads`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, FastAPI, Form, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import make_asgi_app
from pydantic import BaseModel, Field
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.formparsers import MultiPartException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from irs import __version__
from irs.aws import clients
from irs.aws.clients import AWS_ERRORS, AWS_OR_NETWORK_ERRORS, transient
from irs.aws.queues import queue_names
from irs.inference.imaging import BadImage, ImageInfo, inspect
from irs.inference.registry import REGISTRY
from irs.repository.store import NotFound, latest, versions
from irs.results import ResultDocument, image_key_of
from irs.settings import get_settings
from webapp import forms
from webapp.feed import ResultFeed
from webapp.monitor import Monitor
from webapp.security import COOKIE, Authenticator, BodyGuard, Caller, allowed_hosts, cross_site
from webapp.uploads import WEB_PREFIX, Rejected, Upload, accept, owner_of

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
RETRY_AFTER_AWS_S = 5  # what a caller is told to wait when AWS is out of reach
MAX_WAIT_S = 60.0
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers, beyond the files themselves
#: The upload's form, for /docs: the handler parses it itself, with limits on files, fields and parts.
UPLOAD_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "One or more images."},
        "model": {"type": "string", "maxLength": 130, "description": "The model for every image: a built-in's name, "
                  "or a repository model's NAME (its latest version, fixed now) or NAME@VERSION (GET /api/v1/models)."
                  " The workers' default when absent."}}}}}}}


class ModelEntry(BaseModel):
    name: str
    version: str | None = Field(default=None, description="A repository version's short id")
    ref: str | None = Field(default=None, description="What pins this version in a request: NAME@VERSION")
    latest: bool = Field(default=False, description="The version a request naming only NAME gets")
    kind: str | None
    source: str = Field(description="built-in, repository, or removed (seen in results, no longer stored)")
    labels: int | None = None
    served: int = Field(description="Images this model answered, as this web process saw results arrive")


class ModelList(BaseModel):
    default: str = Field(description="The workers' model when a request names none")
    models: list[ModelEntry]


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


async def _caller(request: Request) -> Caller:
    """Who is asking (401 when a token is needed and none is valid)."""
    authenticate: Authenticator = request.app.state.authenticate
    return await authenticate(request)


Authenticated = Annotated[Caller, Depends(_caller)]


class ResultList(BaseModel):
    results: list[ResultDocument]


#: What needs a token wherever tokens are required, pages aside: metrics, and the API's own description.
TOKEN_ONLY = ("/metrics", "/docs", "/redoc", "/openapi.json")


def create_app() -> FastAPI:
    settings = get_settings()
    feed, monitor = ResultFeed(), Monitor()
    authenticate = Authenticator(settings)
    uploading = asyncio.Semaphore(settings.web_max_uploads)
    upload_limit = settings.web_max_files * settings.max_image_bytes + MULTIPART_OVERHEAD

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(feed.start, WEB_PREFIX)
        monitor.start()
        yield
        monitor.close()
        await asyncio.to_thread(feed.close)

    app = FastAPI(title="IRS: Image Recognition as a Service", version=__version__, lifespan=lifespan,
                  description="Upload images, get back the objects in them. Results arrive pushed; "
                              "`GET /api/v1/results/{id}?wait=30` waits for one without polling. "
                              "Send `Authorization: Bearer <token>` where the service asks for a token.")
    app.state.feed, app.state.monitor = feed, monitor
    app.add_exception_handler(ClientError, _aws_trouble)
    app.add_exception_handler(BotoCoreError, _aws_trouble)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/metrics", make_asgi_app())  # Prometheus: queues, routing, refused documents; token-guarded below
    app.add_middleware(BodyGuard, timeout_s=settings.web_body_timeout_s, min_rate=settings.web_body_min_rate,
                       limit=lambda scope: upload_limit if scope["method"] == "POST"
                       and scope["path"] == "/api/v1/images" else None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))
    app.state.authenticate = authenticate

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Refuse cross-site changes, metrics without a token, and an upload that announces too many bytes."""
        if cross_site(request):
            return _problem(403, "a request from another site may not change anything here")
        if request.url.path.startswith(TOKEN_ONLY) and authenticate.required \
                and await authenticate.token(request) is None:
            return _problem(401, f"{request.url.path} needs an API token: Authorization: Bearer <token> "
                                 "(or the session the login page sets)")
        if request.method == "POST" and request.url.path == "/api/v1/images":
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > upload_limit):
                return _problem(413, f"the request is {length} bytes, over the limit of {upload_limit:,} "
                                     f"({settings.web_max_files} images of at most {settings.max_image_bytes:,} bytes)",
                                close=True)
        return await call_next(request)

    # --- pages ------------------------------------------------------------------------------------
    async def page(request: Request, name: str) -> Response:
        if authenticate.required and await authenticate.token(request) is None:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / name)

    @app.get("/", include_in_schema=False)
    async def upload_page(request: Request) -> Response:
        return await page(request, "index.html")

    @app.get("/status", include_in_schema=False)
    async def status_page(request: Request) -> Response:
        return await page(request, "status.html")

    @app.get("/login", include_in_schema=False)
    async def login_page() -> FileResponse:
        return FileResponse(STATIC / "login.html")

    @app.post("/login", include_in_schema=False)
    async def login(token: Annotated[str, Form(max_length=100)]) -> Response:
        """Trade an API token for a session cookie the pages send (HttpOnly, Secure, SameSite=Strict)."""
        if await asyncio.to_thread(authenticate.verify, token) is None:
            return RedirectResponse("/login?failed=1", status_code=303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, secure=True, samesite="strict", max_age=7 * 86400)
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, secure=True, samesite="strict")
        return response

    # --- the API ------------------------------------------------------------------------------------
    @app.post("/api/v1/images", status_code=202, response_model=ImagesAccepted, tags=["images"],
              openapi_extra=UPLOAD_FORM,
              responses={400: {"model": Problem}, 401: {"model": Problem},
                         408: {"model": Problem, "description": "The body arrived too slowly"},
                         413: {"model": Problem}, 415: {"model": Problem},
                         503: {"model": Problem, "description": "Too much work queued; try after Retry-After"}})
    async def upload_images(request: Request, caller: Authenticated) -> ImagesAccepted | JSONResponse:
        """Upload one or many images (multipart, field `files`); each becomes a classification request."""
        busy = _overloaded(monitor)
        if busy is not None:
            return busy
        try:
            form = await forms.parse(request.headers, request.stream(), max_files=settings.web_max_files,
                                     max_file_bytes=settings.max_image_bytes, max_fields=8,
                                     max_part_size=64 * 1024)
        except (forms.FileTooLarge, forms.TooManyFiles) as error:
            return _problem(413, f"nothing was accepted: {error.message}", close=True)
        except MultiPartException as error:
            return _problem(400, f"not a form IRS takes: {error.message}")
        try:  # a slot is held only once the whole body is here: a client still sending holds none
            if uploading.locked():
                response = _problem(503, f"this process takes {settings.web_max_uploads} uploads at once; try again")
                response.headers["Retry-After"] = "1"
                return response
            async with uploading:
                return await _accept_form(form, caller)
        finally:
            await form.close()

    async def _accept_form(form: FormData, caller: Caller) -> ImagesAccepted | JSONResponse:
        """Check and store the files (spooled to anonymous temporary files) of a form within its limits."""
        files = [value for key, value in form.multi_items()
                 if key == "files" and isinstance(value, StarletteUploadFile)]
        if not files:
            return _problem(400, "no files: send one or more images in the multipart field `files`")
        uploads = [Upload(f.filename or "", f.file, f.size or 0) for f in files]
        chosen = form.get("model")
        try:
            accepted = await asyncio.to_thread(accept, uploads, caller.name,
                                               chosen if isinstance(chosen, str) and chosen else None)
        except NotFound as error:
            return _problem(400, f"nothing was accepted: {error}")
        except Rejected as bad:
            return _problem(413 if bad.too_large else 415, "nothing was accepted: " + str(bad), bad.problems)
        return ImagesAccepted(requests=[ImageAccepted(
            request_id=a.request_id, filename=a.filename, image_key=a.image_key,
            result_url=f"/api/v1/results/{a.request_id}", format=a.image.format, width=a.image.width,
            height=a.image.height, bytes=a.image.bytes) for a in accepted])

    @app.get("/api/v1/results", response_model=ResultList, response_model_exclude_unset=True, tags=["results"],
             responses={401: {"model": Problem}})
    async def list_results(caller: Authenticated, label: Annotated[str | None, Query(
            max_length=100, description="Only results that found this label, e.g. dog")] = None,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ResultList:
        """Recent results, newest first: the caller's own (an admin's token sees everyone's)."""
        owner = None if caller.admin else caller.name
        return ResultList.model_validate({"results": feed.recent(label, limit, owner)})

    @app.get("/api/v1/results/{request_id:path}", tags=["results"], response_model=ResultDocument,
             response_model_exclude_unset=True, responses={404: {"model": Problem, "description": "No result (yet)"},
                                                           401: {"model": Problem}})
    async def get_result(request_id: str, caller: Authenticated, wait: Annotated[float, Query(
            ge=0, le=MAX_WAIT_S, description="Seconds to wait for the result if it is not there yet")] = 0
                         ) -> Any:
        """One request's result document; with `wait`, a long poll that answers the moment it lands."""
        image_key = image_key_of(request_id)
        if image_key is None or not _may_see(caller, image_key):
            return _problem(404, f"{request_id!r} is not a request id of yours")
        document = await feed.wait(request_id, wait)
        if document is None:
            return _problem(404, f"no result for {request_id} yet; ask again, with ?wait=30 to wait for it")
        return document

    @app.get("/api/v1/images/{image_key:path}", tags=["images"], response_class=Response,
             responses={200: {"content": {"image/*": {}}}, 404: {"model": Problem}, 401: {"model": Problem}})
    async def get_image(image_key: str, caller: Authenticated) -> Response:
        """An uploaded image, as stored (for thumbnails): only images, and only the caller's own."""
        if not image_key.startswith("uploads/") or ".." in image_key or not _may_see(caller, image_key):
            return _problem(404, "no such image")
        found = await asyncio.to_thread(_image, image_key)
        if found is None:
            return _problem(404, "no such image (uploads expire after IRS_UPLOAD_TTL_DAYS)")
        body, info = found
        return Response(body, media_type=f"image/{info.format}", headers={
            "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox", "Content-Disposition": "inline"})

    @app.get("/api/v1/models", tags=["models"], response_model=ModelList, responses={401: {"model": Problem}})
    async def list_models(_: Authenticated) -> ModelList:
        """The models a request may name: the built-in ones and the repository's versions, with the images each
        has answered as this process saw them."""
        served = feed.served_by_model()
        stored = await asyncio.to_thread(versions, settings)
        newest = latest(stored)
        counted = {(m.name, m.short) for m in stored}
        return ModelList(default=settings.model, models=[
            *(ModelEntry(name=spec.name, kind=spec.kind, source="built-in", labels=spec.num_labels,
                         served=sum(n for (name, _), n in served.items() if name == spec.name))
              for spec in REGISTRY.values()),
            *(ModelEntry(name=m.name, version=m.short, ref=m.ref, latest=newest[m.name] == m.version, kind=m.kind,
                         source="repository", labels=len(m.labels), served=served.get((m.name, m.short), 0))
              for m in stored),
            *(ModelEntry(name=name, version=version, kind=None, source="removed", served=n)
              for (name, version), n in served.items() if name not in REGISTRY and (name, version) not in counted),
        ])

    @app.get("/api/v1/status", tags=["status"])
    async def status(_: Authenticated, history: bool = False) -> dict[str, Any]:
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


def _may_see(caller: Caller, image_key: str) -> bool:
    """An admin sees every image; anyone else only what they uploaded through the web tier."""
    return caller.admin or owner_of(image_key) == caller.name


def _image(image_key: str) -> tuple[bytes, ImageInfo] | None:
    """The stored image, if it is one within the limits: its size is checked before a byte is read."""
    settings = get_settings()
    s3 = clients.client("s3")
    try:
        size = s3.head_object(Bucket=settings.input_bucket, Key=image_key)["ContentLength"]
        if size > settings.max_image_bytes:
            return None
        body: bytes = s3.get_object(Bucket=settings.input_bucket, Key=image_key)["Body"].read(size + 1)
        return body, inspect(body, settings.max_image_bytes, settings.max_image_pixels)
    except (*AWS_ERRORS, BadImage):
        return None


async def _aws_trouble(request: Request, error: Exception) -> JSONResponse:
    """AWS out of reach after the retries: 503 with Retry-After when it may pass, 500 (and the log) when not."""
    if transient(error):
        response = _problem(503, "IRS's storage or queue is out of reach for now; nothing more was done. "
                                 "Try again shortly.")
        response.headers["Retry-After"] = str(RETRY_AFTER_AWS_S)
        return response
    logger.error("%s %s: AWS refused: %s", request.method, request.url.path, error)
    return _problem(500, "IRS's AWS access refused this request; its operators have the details in the log")


def _problem(status: int, detail: str, problems: dict[str, str] | None = None, close: bool = False) -> JSONResponse:
    """An error answer; ``close``: the body was not read to its end, so the server closes the connection
    instead of reading the rest of it to keep the connection alive."""
    headers = {"Connection": "close"} if close else None
    return JSONResponse({"detail": detail, "problems": problems or {}}, status_code=status, headers=headers)

