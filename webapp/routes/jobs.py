"""Jobs over S3, as the last look at them tallied them (the janitor looks every EVERY_S seconds, ``irs job`` on
every call): read only, since starting a job is an operator's command (``irs job start``), made with their own
credentials, not the web tier's."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from irs.jobs import progress, record
from webapp.problems import Problem, problem
from webapp.services import Authenticated

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class JobProgress(BaseModel):
    name: str
    source: str = Field(description="s3://BUCKET/PREFIX the job lists")
    model: str | None
    state: str = Field(description="listing (still sending), enqueued (all sent), failed")
    created_at: str
    finished_at: str | None = Field(description="When its last document was tallied; null while it runs")
    listed: int
    enqueued: int
    skipped: dict[str, int] = Field(description="Objects not sent, by reason")
    done: int
    ok: int
    errors: dict[str, int] = Field(description="Error documents, by error_kind")
    remaining: int = Field(description="Sent and not answered yet, as last tallied")
    failure: str | None
    results: str = Field(description="Where its result documents are")


class JobList(BaseModel):
    jobs: list[JobProgress]


def _read(name: str) -> dict[str, Any]:
    return progress.measure(name, look=False).as_json()


@router.get("", response_model=JobList, responses={401: {"model": Problem}})
async def list_jobs(_: Authenticated) -> JobList:
    """Every job, newest name last, with its progress."""
    names = await asyncio.to_thread(record.names)
    found = await asyncio.gather(*(asyncio.to_thread(_read, name) for name in names))
    return JobList(jobs=[JobProgress(**job) for job in found])


@router.get("/{name}", response_model=JobProgress, responses={401: {"model": Problem}, 404: {"model": Problem}})
async def get_job(name: str, _: Authenticated) -> JobProgress | JSONResponse:
    """One job's progress."""
    try:
        record.check_name(name)
        return JobProgress(**await asyncio.to_thread(_read, name))
    except record.BadJob as error:
        return problem(404, str(error))
