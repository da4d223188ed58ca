"""Models: what a request may name, built-in and in the repository, with how many images each answered."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, Field

from irs.inference.registry import REGISTRY
from irs.repository.store import latest, versions
from webapp.problems import Problem
from webapp.services import Authenticated, Shared

router = APIRouter(prefix="/api/v1/models", tags=["models"])


class ModelEntry(BaseModel):
    name: str
    version: str | None = Field(default=None, description="A repository version's short id")
    ref: str | None = Field(default=None, description="What pins this version in a request: NAME@VERSION")
    latest: bool = Field(default=False, description="The version a request naming only NAME gets")
    kind: str | None
    source: str = Field(description="built-in, repository, or removed (seen in results, no longer stored)")
    labels: int | None = None
    served: int = Field(description="Images this model answered, as this web process saw results arrive")


class ModelList(BaseModel):
    default: str = Field(description="The workers' model when a request names none")
    models: list[ModelEntry]


@router.get("", response_model=ModelList, responses={401: {"model": Problem}})
async def list_models(_: Authenticated, services: Shared) -> ModelList:
    """The models a request may name: the built-in ones and the repository's versions, with the images each
    has answered as this process saw them."""
    settings = services.settings
    served = services.feed.served_by_model()
    stored = await asyncio.to_thread(versions, settings)
    newest = latest(stored)
    counted = {(m.name, m.short) for m in stored}
    return ModelList(default=settings.model, models=[
        *(ModelEntry(name=spec.name, kind=spec.kind, source="built-in", labels=spec.num_labels,
                     served=sum(n for (name, _), n in served.items() if name == spec.name))
          for spec in REGISTRY.values()),
        *(ModelEntry(name=m.name, version=m.short, ref=m.ref, latest=newest[m.name] == m.version, kind=m.kind,
                     source="repository", labels=len(m.labels), served=served.get((m.name, m.short), 0))
          for m in stored),
        *(ModelEntry(name=name, version=version, kind=None, source="removed", served=n)
          for (name, version), n in served.items() if name not in REGISTRY and (name, version) not in counted),
    ])
