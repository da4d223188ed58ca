"""Providers act on the fleet: launch hosts, ask them to drain, terminate what is already gone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class Host:
    id: str
    state: Literal["pending", "running"]
    launched_at: float
    always_on: bool = False


class Provider(Protocol):
    name: str

    def hosts(self) -> list[Host]:
        """Every live host of the fleet, rebuilt from the provider itself (tags, a registry)."""

    def launch(self, count: int, always_on: bool = False) -> list[str]:
        """Start up to ``count`` hosts, never taking the fleet past its maximum; returns their ids."""

    def drain(self, ids: list[str]) -> None:
        """Ask the workers on these hosts to finish what they hold and stop; their hosts then go."""

    def terminate(self, ids: list[str]) -> None:
        """End hosts outright: only for hosts whose worker is gone, or on shutdown of the whole fleet."""
