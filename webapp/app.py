"""The web tier: an upload page, a status page, and the REST API under /api/v1 (OpenAPI at /docs).

Run it with ``irs web`` (``irs up`` starts it too), which serves the app :func:`create_app` makes;
importing this module makes none. The routes are in :mod:`webapp.routes`, one module an area; what
they share (settings, the result feed, the status sampler, who is asking) reaches them as dependencies
(:mod:`webapp.services`). Results reach the app pushed (:mod:`webapp.feed`), the pools' state is sampled
in the background (:mod:`webapp.monitor`), and uploads are checked by content before anything is stored
or enqueued (:mod:`webapp.uploads`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import make_asgi_app
from starlette.middleware.trustedhost import TrustedHostMiddleware

from irs import __version__
from irs.settings import get_settings
from webapp.feed import ResultFeed
from webapp.monitor import Monitor
from webapp.problems import aws_trouble, problem
from webapp.routes import health, images, jobs, models, pages, results, tokens, usage
from webapp.routes.pages import STATIC
from webapp.security import Authenticator, BodyGuard, allowed_hosts, cross_site
from webapp.services import Services
from webapp.uploads import WEB_PREFIX

#: What needs a token wherever tokens are required, pages aside: metrics, and the API's own description.
TOKEN_ONLY = ("/metrics", "/docs", "/redoc", "/openapi.json")


def create_app() -> FastAPI:
    settings = get_settings()
    services = Services(settings, ResultFeed(), Monitor(), Authenticator(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(services.feed.start, WEB_PREFIX)
        services.monitor.start()
        yield
        services.monitor.close()
        await asyncio.to_thread(services.feed.close)

    app = FastAPI(title="IRS: Image Recognition as a Service", version=__version__, lifespan=lifespan,
                  description="Upload images, get back the objects in them. Results arrive pushed; "
                              "`GET /api/v1/results/{id}?wait=30` waits for one without polling. "
                              "Send `Authorization: Bearer <token>` where the service asks for a token.")
    app.state.services = services
    for router in (pages.router, tokens.router, images.router, results.router, models.router, jobs.router,
                   usage.router, health.router):
        app.include_router(router)
    app.add_exception_handler(ClientError, aws_trouble)
    app.add_exception_handler(BotoCoreError, aws_trouble)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/metrics", make_asgi_app())  # Prometheus: queues, routing, refused documents; token-guarded below
    app.add_middleware(BodyGuard, timeout_s=settings.web_body_timeout_s, min_rate=settings.web_body_min_rate,
                       limit=lambda scope: images.upload_limit(services, scope["method"], scope["path"]))
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))
    app.middleware("http")(_guard)
    return app


async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Refuse cross-site changes, metrics without a token, and an upload that announces too many bytes."""
    services: Services = request.app.state.services
    authenticate = services.authenticate
    if cross_site(request):
        return problem(403, "a request from another site may not change anything here")
    if request.url.path.startswith(TOKEN_ONLY) and authenticate.required \
            and await authenticate.token(request) is None:
        return problem(401, f"{request.url.path} needs an API token: Authorization: Bearer <token> "
                            "(or the session the login page sets)")
    limit = images.upload_limit(services, request.method, request.url.path)
    length = request.headers.get("content-length")
    if limit is not None and length is not None and (not length.isdigit() or int(length) > limit):
        settings = services.settings
        return problem(413, f"the request is {length} bytes, over the limit of {limit:,} "
                            f"({settings.web_max_files} images of at most {settings.max_image_bytes:,} bytes)",
                       close=True)
    return await call_next(request)
