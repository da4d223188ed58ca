"""How the web tier says no: one JSON shape for every error (:class:`Problem`), and AWS trouble as 503 or 500."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from irs.aws.clients import transient

logger = logging.getLogger(__name__)
RETRY_AFTER_AWS_S = 5  # what a caller is told to wait when AWS is out of reach


class Problem(BaseModel):
    detail: str
    problems: dict[str, str] = Field(default_factory=dict, description="Each bad file, and what is wrong with it.")


def problem(status: int, detail: str, problems: dict[str, str] | None = None, close: bool = False) -> JSONResponse:
    """An error answer; ``close``: the body was not read to its end, so the server closes the connection
    instead of reading the rest of it to keep the connection alive."""
    headers = {"Connection": "close"} if close else None
    return JSONResponse(Problem(detail=detail, problems=problems or {}).model_dump(), status_code=status,
                        headers=headers)


async def aws_trouble(request: Request, error: Exception) -> JSONResponse:
    """AWS out of reach after the retries: 503 with Retry-After when it may pass, 500 (and the log) when not."""
    if transient(error):
        response = problem(503, "IRS's storage or queue is out of reach for now; nothing more was done. "
                                "Try again shortly.")
        response.headers["Retry-After"] = str(RETRY_AFTER_AWS_S)
        return response
    logger.error("%s %s: AWS refused: %s", request.method, request.url.path, error)
    return problem(500, "IRS's AWS access refused this request; its operators have the details in the log")
