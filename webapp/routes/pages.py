"""The pages: upload and status, behind the login page when tokens are required."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from webapp.services import Shared

STATIC = Path(__file__).parent.parent / "static"
router = APIRouter(include_in_schema=False)


async def _page(request: Request, services: Shared, name: str) -> Response:
    if services.authenticate.required and await services.authenticate.token(request) is None:
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / name)


@router.get("/")
async def upload_page(request: Request, services: Shared) -> Response:
    return await _page(request, services, "index.html")


@router.get("/status")
async def status_page(request: Request, services: Shared) -> Response:
    return await _page(request, services, "status.html")


@router.get("/login")
async def login_page() -> FileResponse:
    return FileResponse(STATIC / "login.html")
