"""Who may use the web tier, and what a request must look like: the web tier's trust boundary.

- **Tokens** (:mod:`webapp.tokens`) are required whenever the app listens beyond
  loopback, and on loopback with ``IRS_WEB_AUTH=true``: ``Authorization:
  Bearer <token>``, or the cookie the login page sets. Without them, the one
  local user is everyone's owner (an admin).
- **Bytes are counted and timed as they arrive** (:class:`BodyGuard`), chunked
  or not, whatever ``Content-Length`` says: past the limit the request is
  answered 413, too slow 408, and the app reads no more. Each uploaded file is
  cut off as soon as it passes the image limit (:mod:`webapp.forms`).
- **Cross-site requests that change something are refused**: a browser says
  where a request comes from in ``Sec-Fetch-Site`` or ``Origin``.
- **Host names** are checked by Starlette's TrustedHostMiddleware
  (:func:`allowed_hosts`), against DNS rebinding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from irs.settings import Settings
from webapp.problems import Problem
from webapp.tokens import Limits, Token, Verifier

LOOPBACK = ("127.0.0.1", "localhost", "::1")
COOKIE = "irs_session"
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
Scope = dict[str, Any]
ASGIApp = Callable[..., Any]


@dataclass(frozen=True)
class Caller:
    name: str  # the owner of what it uploads
    admin: bool  # sees everyone's images and results
    limits: Limits = Limits()  # its token's quotas


LOCAL = Caller("local", admin=True)


def auth_required(settings: Settings) -> bool:
    return settings.web_auth or settings.web_host not in LOOPBACK


def allowed_hosts(settings: Settings) -> list[str]:
    extra = [host.strip() for host in settings.web_allowed_hosts.split(",") if host.strip()]
    return sorted({*LOOPBACK, "[::1]", settings.web_host, *extra})


def secret_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


class Authenticator:
    """The FastAPI dependency that says who the caller is, or answers 401."""

    def __init__(self, settings: Settings, verify: Verifier | None = None) -> None:
        self.required = auth_required(settings)
        self.verify = verify or Verifier()

    async def token(self, request: Request) -> Token | None:
        secret = secret_of(request)
        return await asyncio.to_thread(self.verify, secret) if secret else None

    async def __call__(self, request: Request) -> Caller:
        if not self.required:
            return LOCAL
        token = await self.token(request)
        if token is None:
            raise HTTPException(401, "a valid API token is needed: Authorization: Bearer <token> "
                                     "(irs web token create NAME makes one)", headers={"WWW-Authenticate": "Bearer"})
        return Caller(token.name, token.admin, token.limits)


class BodyGuard:
    """ASGI middleware: at most ``limit(scope)`` bytes of request body, counted as they arrive (413), and those
    bytes arriving in time (408): each within ``timeout_s`` of the last, and all of them at ``min_rate`` bytes
    a second on average once ``timeout_s`` has passed. Either way the app reads no more, its own answer is
    dropped, and the connection is closed: a slow or stalled client costs only its own connection."""

    def __init__(self, app: ASGIApp, limit: Callable[[Scope], int | None], timeout_s: float, min_rate: float
                 ) -> None:
        self.app, self.limit, self.timeout_s, self.min_rate = app, limit, timeout_s, min_rate

    async def __call__(self, scope: Scope, receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        limit = self.limit(scope) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        received, refused, started, begun = 0, False, False, time.monotonic()

        async def counted() -> Any:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), self._wait_s(received, begun))
            except TimeoutError:
                refused = True
                await refuse(408, f"the request body arrived too slowly (each part within {self.timeout_s:g} s, "
                                  f"at least {self.min_rate:,.0f} bytes a second)")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await refuse(413, f"the request is over the limit of {limit:,} bytes")
                    return {"type": "http.disconnect"}  # the app stops reading, and its answer is dropped
            return message

        async def refuse(status: int, detail: str) -> None:
            if started:
                return
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": Problem(detail=detail).model_dump_json().encode()})

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not refused:
                raise

    def _wait_s(self, received: int, begun: float) -> float:
        """How long the next bytes may take: the timeout, or less where the body already runs behind the rate."""
        if not self.min_rate:
            return self.timeout_s
        due = begun + self.timeout_s + received / self.min_rate
        return max(0.0, min(self.timeout_s, due - time.monotonic()))


def cross_site(request: Request) -> bool:
    """Whether a request that changes something comes from another site (a browser says so)."""
    if request.method not in UNSAFE_METHODS:
        return False
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")
