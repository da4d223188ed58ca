"""Results: the caller's recent ones, one request's (waited for without polling), and erasing one."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from irs.results import ResultDocument, image_key_of
from webapp.erasure import erase_request
from webapp.problems import Problem, problem
from webapp.services import Authenticated, Shared
from webapp.uploads import may_see

router = APIRouter(prefix="/api/v1/results", tags=["results"])
MAX_WAIT_S = 60.0


class ResultList(BaseModel):
    results: list[ResultDocument]


@router.get("", response_model=ResultList, response_model_exclude_unset=True, responses={401: {"model": Problem}})
async def list_results(caller: Authenticated, services: Shared, label: Annotated[str | None, Query(
        max_length=100, description="Only results that found this label, e.g. dog")] = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ResultList:
    """Recent results, newest first: the caller's own (an admin's token sees everyone's)."""
    owner = None if caller.admin else caller.name
    return ResultList.model_validate({"results": services.feed.recent(label, limit, owner)})


@router.get("/{request_id:path}", response_model=ResultDocument, response_model_exclude_unset=True,
            responses={404: {"model": Problem, "description": "No result (yet)"}, 401: {"model": Problem}})
async def get_result(request_id: str, caller: Authenticated, services: Shared, wait: Annotated[float, Query(
        ge=0, le=MAX_WAIT_S, description="Seconds to wait for the result if it is not there yet")] = 0) -> Any:
    """One request's result document; with `wait`, a long poll that answers the moment it lands."""
    image_key = image_key_of(request_id)
    if image_key is None or not may_see(caller, image_key):
        return problem(404, f"{request_id!r} is not a request id of yours")
    document = await services.feed.wait(request_id, wait)
    if document is None:
        return problem(404, f"no result for {request_id} yet; ask again, with ?wait=30 to wait for it")
    return document


class Erased(BaseModel):
    request_id: str
    images: int = Field(description="Uploaded images deleted (0 for an object in a bucket of the user's own)")
    results: int = Field(description="Result documents deleted")


@router.delete("/{request_id:path}", response_model=Erased,
               responses={404: {"model": Problem, "description": "No such request of yours"},
                          401: {"model": Problem}})
async def delete_result(request_id: str, caller: Authenticated) -> Erased | Any:
    """Erase a request: its uploaded image and its result, from both buckets, the results list and the label
    search. Afterwards the request answers 404."""
    image_key = image_key_of(request_id)
    if image_key is None or not may_see(caller, image_key):
        return problem(404, f"{request_id!r} is not a request id of yours")
    report = await asyncio.to_thread(erase_request, request_id, lambda key: may_see(caller, key))
    if report is None:
        return problem(404, f"no result for {request_id}: nothing to erase (wait for its result first)")
    return Erased(request_id=request_id, images=report.images, results=report.results)
