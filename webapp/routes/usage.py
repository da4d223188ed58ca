"""Usage: images, errors, CPU and estimated cost per owner, as the janitor rolls them up (:mod:`irs.usage`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from irs import usage
from webapp.problems import Problem
from webapp.services import Authenticated, Shared

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])


class Usage(BaseModel):
    first_day: str
    last_day: str
    owners: list[usage.Total] = Field(description="The caller's own (an admin's token: every owner's), busiest "
                                      "first; rolled up every 10 minutes")


@router.get("", response_model=Usage, responses={401: {"model": Problem}})
async def get_usage(caller: Authenticated, services: Shared,
                    days: Annotated[int, Query(ge=1, le=366, description="The last N UTC days, today included")] = 1,
                    month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                                       description="A whole month instead, YYYY-MM")] = None
                    ) -> Usage:
    """What each owner used over the span: images, errors by kind, worker CPU, estimated cost."""
    span = usage.span(days=days, month=month)
    rows = await asyncio.to_thread(usage.read, span)
    mine = [row for row in rows if caller.admin or row.owner == caller.name]
    return Usage(first_day=span[0].isoformat(), last_day=span[-1].isoformat(),
                 owners=usage.totals(mine, services.settings))
