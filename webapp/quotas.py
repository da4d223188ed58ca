"""Quotas per token: an owner over its limit gets 429 with Retry-After and its own numbers; nobody else notices.

Two limits, stored with the token (:class:`webapp.tokens.Limits`), checked before a byte of an upload is stored:

- ``images_per_day``: images accepted in a UTC day. The count lives in the results bucket
  (``web/quota/<day>/<owner>.json``) and each upload reserves its images with a conditional write, so it is
  exact across web processes: two processes racing for the last images cannot both have them.
- ``max_waiting``: images sent and not yet answered. Each web process counts what it accepted itself, and forgets
  an image when the results feed brings its document (or after ``FORGET_S``). Behind a load balancer with P web
  processes, an owner may so have up to P times its limit waiting at once: the bound is per process.

Only uploads are limited: results, listings and the pages are never refused by a quota. The decision
(:func:`verdict`) is a pure function of the limits and the counts.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from irs.aws import documents
from webapp.problems import Problem
from webapp.tokens import Limits

PREFIX = "web/quota/"
FORGET_S = 3600.0  # an image accepted this long ago no longer counts as waiting (its result was missed)
RETRY_WAITING_S = 10  # Retry-After for max_waiting when the fleet's rate is not known yet
CONFLICTS = 8  # conditional writes one reservation tries before it answers 503


class Over(BaseModel):
    """Which limit an upload would pass, and the owner's numbers."""

    quota: Literal["max_waiting", "images_per_day"]
    limit: int
    used: int = Field(description="Images waiting, or accepted today, before this upload")
    asked: int = Field(description="Images in this upload")
    retry_after_s: int


class QuotaProblem(Problem):
    over: Over


class DayCount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    images: int = Field(ge=0)


def verdict(limits: Limits, waiting: int, today: int, asked: int, retry_waiting_s: int, until_tomorrow_s: int
            ) -> Over | None:
    """The limit ``asked`` more images would pass, or None if they fit."""
    if limits.max_waiting is not None and waiting + asked > limits.max_waiting:
        return Over(quota="max_waiting", limit=limits.max_waiting, used=waiting, asked=asked,
                    retry_after_s=retry_waiting_s)
    if limits.images_per_day is not None and today + asked > limits.images_per_day:
        return Over(quota="images_per_day", limit=limits.images_per_day, used=today, asked=asked,
                    retry_after_s=until_tomorrow_s)
    return None


def refusal(owner: str, over: Over) -> JSONResponse:
    """429 with Retry-After, and the owner's numbers in the problem."""
    said = {"max_waiting": f"{owner} has {over.used} images waiting, and may have {over.limit}",
            "images_per_day": f"{owner} sent {over.used} images today (UTC), and may send {over.limit} a day"}
    response = JSONResponse(QuotaProblem(detail=f"nothing was accepted: {said[over.quota]}; this upload has "
                                                f"{over.asked}. Try again in {over.retry_after_s} s", over=over)
                            .model_dump(), status_code=429)
    response.headers["Retry-After"] = str(over.retry_after_s)
    return response


def until_tomorrow_s(now: datetime) -> int:
    """Seconds until the next UTC day begins."""
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def retry_waiting_s(excess: int, images_per_s: float | None) -> int:
    """How long until ``excess`` images have been answered at the fleet's rate (1 to 120 s)."""
    if not images_per_s:
        return RETRY_WAITING_S
    return min(120, max(1, math.ceil(excess / images_per_s)))


def day_key(owner: str, now: datetime) -> str:
    return f"{PREFIX}{now.strftime('%Y-%m-%d')}/{owner}.json"


def accepted_today(owner: str, now: datetime) -> int:
    found = documents.read(day_key(owner, now), DayCount)
    return found.images if found else 0


def reserve(owner: str, count: int, limit: int, now: datetime) -> int | None:
    """Add ``count`` to the owner's images today if that stays within ``limit``: None if it did, else the count
    that left no room. Conditional writes, so concurrent web processes never both take the last images; a
    negative ``count`` gives images back (an upload refused after its reservation). Raises TimeoutError when
    CONFLICTS writers in a row came first."""
    key = day_key(owner, now)
    for _ in range(CONFLICTS):
        found = documents.read_versioned(key, DayCount)
        used, version = (found[0].images, found[1]) if found else (0, None)
        if count > 0 and used + count > limit:
            return used
        if documents.write_if(key, DayCount(images=max(0, used + count)).model_dump_json(), version) is not None:
            return None
    raise TimeoutError(f"{owner}'s count of images today changed {CONFLICTS} times while this upload read it")


class Waiting:
    """One web process's count of each owner's images sent and not yet answered."""

    def __init__(self) -> None:
        self._owners: dict[str, dict[str, float]] = {}  # owner -> request id -> when accepted
        self._owner_of: dict[str, str] = {}
        self._lock = threading.Lock()

    def count(self, owner: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        with self._lock:
            mine = self._owners.get(owner, {})
            for request_id in [i for i, at in mine.items() if now - at > FORGET_S]:
                del mine[request_id]
                self._owner_of.pop(request_id, None)
            return len(mine)

    def sent(self, owner: str, request_ids: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            mine = self._owners.setdefault(owner, {})
            for request_id in request_ids:
                mine[request_id] = now
                self._owner_of[request_id] = owner

    def answered(self, request_id: str, _: Any = None) -> None:
        """A result landed (the feed calls this for every document it hears)."""
        with self._lock:
            owner = self._owner_of.pop(request_id, None)
            if owner is not None:
                self._owners[owner].pop(request_id, None)


def today() -> datetime:
    return datetime.now(UTC)
