"""A browser's session: an API token traded for a cookie the pages send, and given back."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Response
from fastapi.responses import RedirectResponse

from webapp.security import COOKIE
from webapp.services import Shared

router = APIRouter(include_in_schema=False)
SESSION_S = 7 * 86400


@router.post("/login")
async def login(token: Annotated[str, Form(max_length=100)], services: Shared) -> Response:
    """Trade an API token for a session cookie the pages send (HttpOnly, Secure, SameSite=Strict)."""
    if await asyncio.to_thread(services.authenticate.verify, token) is None:
        return RedirectResponse("/login?failed=1", status_code=303)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, secure=True, samesite="strict", max_age=SESSION_S)
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, secure=True, samesite="strict")
    return response
