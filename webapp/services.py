"""What the routes share, made once per app by :func:`webapp.app.create_app`, and reached as dependencies."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from irs.settings import Settings
from webapp.feed import ResultFeed
from webapp.monitor import Monitor
from webapp.quotas import Waiting
from webapp.security import Authenticator, Caller

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers, beyond the files themselves


@dataclass
class Services:
    settings: Settings
    feed: ResultFeed
    monitor: Monitor
    authenticate: Authenticator
    waiting: Waiting = field(default_factory=Waiting)  # each owner's images sent from here, not yet answered
    uploading: asyncio.Semaphore = field(init=False)  # uploads being checked and stored at once
    owners_uploading: dict[str, asyncio.Semaphore] = field(default_factory=dict)  # an owner per token: bounded

    def __post_init__(self) -> None:
        self.uploading = asyncio.Semaphore(self.settings.web_max_uploads)
        self.feed.listeners.append(self.waiting.answered)

    def owner_uploading(self, owner: str) -> asyncio.Semaphore:
        """The upload slots one owner may hold at once: a quarter of the process's, so one or two teams sending
        many uploads at once leave slots for everyone else; its further uploads wait for its own, not refused."""
        return self.owners_uploading.setdefault(owner, asyncio.Semaphore(max(1, self.settings.web_max_uploads // 4)))

    @property
    def upload_limit(self) -> int:
        """The most bytes an upload request may carry: every file at its largest, and the form around them."""
        return self.settings.web_max_files * self.settings.max_image_bytes + MULTIPART_OVERHEAD


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _caller(request: Request) -> Caller:
    """Who is asking (401 when a token is needed and none is valid)."""
    return await _services(request).authenticate(request)


Shared = Annotated[Services, Depends(_services)]
Authenticated = Annotated[Caller, Depends(_caller)]
