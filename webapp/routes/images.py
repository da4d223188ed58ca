"""Images: upload one or many (each becomes a classification request), and read one back."""

from __future__ import annotations

import asyncio
import math

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.formparsers import MultiPartException

from irs.aws import clients
from irs.aws.clients import AWS_ERRORS
from irs.inference.imaging import BadImage, ImageInfo, inspect
from irs.repository.store import NotFound
from irs.settings import Settings
from webapp import forms, quotas
from webapp.monitor import Monitor
from webapp.problems import Problem, problem
from webapp.security import Caller
from webapp.services import Authenticated, Services, Shared
from webapp.uploads import Rejected, Upload, accept, may_see

PATH = "/api/v1/images"
router = APIRouter(prefix=PATH, tags=["images"])
#: The upload's form, for /docs: the handler parses it itself, with limits on files, fields and parts.
UPLOAD_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "One or more images."},
        "model": {"type": "string", "maxLength": 130, "description": "The model for every image: a built-in's name, "
                  "or a repository model's NAME (its latest version, fixed now) or NAME@VERSION (GET /api/v1/models)."
                  " The workers' default when absent."}}}}}}}


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


@router.post("", status_code=202, response_model=ImagesAccepted, openapi_extra=UPLOAD_FORM,
             responses={400: {"model": Problem}, 401: {"model": Problem},
                        408: {"model": Problem, "description": "The body arrived too slowly"},
                        413: {"model": Problem}, 415: {"model": Problem},
                        429: {"model": quotas.QuotaProblem, "description": "The token's quota is used up; try "
                              "after Retry-After"},
                        503: {"model": Problem, "description": "Too much work queued; try after Retry-After"}})
async def upload_images(request: Request, caller: Authenticated, services: Shared) -> ImagesAccepted | JSONResponse:
    """Upload one or many images (multipart, field `files`); each becomes a classification request."""
    settings = services.settings
    refused = await _over_quota(caller, services, asked=1) or _overloaded(services.monitor, settings.web_max_backlog)
    if refused is not None:  # an owner at its quota first: the global limit is the last guard
        return refused
    try:
        form = await forms.parse(request.headers, request.stream(), max_files=settings.web_max_files,
                                 max_file_bytes=settings.max_image_bytes, max_fields=8, max_part_size=64 * 1024)
    except (forms.FileTooLarge, forms.TooManyFiles) as error:
        return problem(413, f"nothing was accepted: {error.message}", close=True)
    except MultiPartException as error:
        return problem(400, f"not a form IRS takes: {error.message}")
    try:  # a slot is held only once the whole body is here: a client still sending holds none
        async with services.owner_uploading(caller.name):  # its own earlier uploads first, never others'
            if services.uploading.locked():
                response = problem(503, f"this process takes {settings.web_max_uploads} uploads at once; try again")
                response.headers["Retry-After"] = "1"
                return response
            async with services.uploading:
                return await _accept_form(form, caller, services)
    finally:
        await form.close()


@router.get("/{image_key:path}", response_class=Response,
            responses={200: {"content": {"image/*": {}}}, 404: {"model": Problem}, 401: {"model": Problem}})
async def get_image(image_key: str, caller: Authenticated, services: Shared) -> Response:
    """An uploaded image, as stored (for thumbnails): only images, and only the caller's own."""
    if not image_key.startswith("uploads/") or ".." in image_key or not may_see(caller, image_key):
        return problem(404, "no such image")
    found = await asyncio.to_thread(_image, image_key, services.settings)
    if found is None:
        return problem(404, "no such image (uploads expire after IRS_UPLOAD_TTL_DAYS)")
    body, info = found
    return Response(body, media_type=f"image/{info.format}", headers={
        "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox", "Content-Disposition": "inline"})


def upload_limit(services: Services, method: str, path: str) -> int | None:
    """The most bytes a request's body may carry: an upload's limit, None (no limit here) for anything else."""
    return services.upload_limit if method == "POST" and path == PATH else None


async def _accept_form(form: FormData, caller: Caller, services: Services) -> ImagesAccepted | JSONResponse:
    """Check and store the files (spooled to anonymous temporary files) of a form within its limits and the
    caller's quota."""
    files = [value for key, value in form.multi_items() if key == "files" and isinstance(value, StarletteUploadFile)]
    if not files:
        return problem(400, "no files: send one or more images in the multipart field `files`")
    refused = await _over_quota(caller, services, asked=len(files), reserve=True)
    if refused is not None:
        return refused
    uploads = [Upload(f.filename or "", f.file, f.size or 0) for f in files]
    chosen = form.get("model")
    try:
        accepted = await asyncio.to_thread(accept, uploads, caller.name,
                                           chosen if isinstance(chosen, str) and chosen else None)
    except Exception as error:
        if caller.limits.images_per_day is not None:  # nothing was accepted: its images are given back
            await asyncio.to_thread(quotas.reserve, caller.name, -len(files), caller.limits.images_per_day,
                                    quotas.today())
        if isinstance(error, NotFound):
            return problem(400, f"nothing was accepted: {error}")
        if isinstance(error, Rejected):
            return problem(413 if error.too_large else 415, "nothing was accepted: " + str(error), error.problems)
        raise
    services.waiting.sent(caller.name, [a.request_id for a in accepted])
    return ImagesAccepted(requests=[ImageAccepted(
        request_id=a.request_id, filename=a.filename, image_key=a.image_key,
        result_url=f"/api/v1/results/{a.request_id}", format=a.image.format, width=a.image.width,
        height=a.image.height, bytes=a.image.bytes) for a in accepted])


async def _over_quota(caller: Caller, services: Services, asked: int, reserve: bool = False
                      ) -> JSONResponse | None:
    """429 when ``asked`` more images would put the caller past its token's quota; with ``reserve``, today's
    images are taken for it at the same time (given back by the caller if the upload then fails)."""
    limits = caller.limits
    if limits.max_waiting is None and limits.images_per_day is None:
        return None
    now = quotas.today()
    waiting = services.waiting.count(caller.name)
    today = 0
    if limits.images_per_day is not None and not reserve:
        today = await asyncio.to_thread(quotas.accepted_today, caller.name, now)
    retry = quotas.retry_waiting_s(waiting + asked - (limits.max_waiting or 0), services.monitor.images_per_s())
    over = quotas.verdict(limits, waiting, today, asked, retry, quotas.until_tomorrow_s(now))
    if over is None and reserve and limits.images_per_day is not None:
        used = await asyncio.to_thread(quotas.reserve, caller.name, asked, limits.images_per_day, now)
        if used is not None:
            over = quotas.verdict(limits, waiting, used, asked, retry, quotas.until_tomorrow_s(now))
    return None if over is None else quotas.refusal(caller.name, over)


def _overloaded(monitor: Monitor, limit: int) -> JSONResponse | None:
    """503 with Retry-After when more than ``limit`` requests are queued: in time for the fleet to serve them."""
    backlog = monitor.backlog()
    if backlog is None or backlog <= limit:
        return None
    rate = monitor.images_per_s()
    retry = min(120, max(1, math.ceil((backlog - limit) / rate))) if rate else 30
    response = problem(503, f"{backlog} requests are queued, over this service's limit of {limit}; "
                            f"try again in {retry} s")
    response.headers["Retry-After"] = str(retry)
    return response


def _image(image_key: str, settings: Settings) -> tuple[bytes, ImageInfo] | None:
    """The stored image, if it is one within the limits: its size is checked before a byte is read."""
    s3 = clients.client("s3")
    try:
        size = s3.head_object(Bucket=settings.input_bucket, Key=image_key)["ContentLength"]
        if size > settings.max_image_bytes:
            return None
        body: bytes = s3.get_object(Bucket=settings.input_bucket, Key=image_key)["Body"].read(size + 1)
        return body, inspect(body, settings.max_image_bytes, settings.max_image_pixels)
    except (*AWS_ERRORS, BadImage):
        return None
