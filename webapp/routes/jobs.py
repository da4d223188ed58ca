"""Jobs over S3, as the last look at each summarised it (the janitor looks every 30 s, ``irs job`` on every
call): read only, since starting a job is an operator's command (``irs job start``), made with their own
credentials, not the web tier's."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from irs.jobs import record
from irs.jobs.progress import Summary, last_summary
from webapp.problems import Problem, problem
from webapp.services import Authenticated

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class JobList(BaseModel):
    jobs: list[Summary]


@router.get("", response_model=JobList, responses={401: {"model": Problem}})
async def list_jobs(_: Authenticated) -> JobList:
    """Every job, newest name last, with its progress."""
    names = await asyncio.to_thread(record.names)
    found = await asyncio.gather(*(asyncio.to_thread(last_summary, name) for name in names))
    return JobList(jobs=list(found))


@router.get("/{name}", response_model=Summary, responses={401: {"model": Problem}, 404: {"model": Problem}})
async def get_job(name: str, _: Authenticated) -> Summary | JSONResponse:
    """One job's progress."""
    try:
        return await asyncio.to_thread(last_summary, name)
    except record.BadJob as error:
        return problem(404, str(error))
