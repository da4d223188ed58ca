"""Watching a directory: every image that appears (or changes) in it is handed on once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from irs.image_files import expand


def new_images(directory: Path, seen: set[tuple[str, int]]) -> list[Path]:
    """Images in ``directory`` not in ``seen`` (by path and modification time); ``seen`` learns them."""
    current = {(str(p), p.stat().st_mtime_ns) for p in expand((directory,))}
    new = [Path(path) for path, _ in sorted(current - seen)]
    seen |= current
    return new


def watch(directory: Path, handle: Callable[[list[Path]], None], stop: threading.Event, interval_s: float = 1.0,
          once: bool = False) -> None:
    """Hand every batch of new images to ``handle`` until ``stop`` is set (or after one look, with ``once``)."""
    seen: set[tuple[str, int]] = set()
    while not stop.is_set():
        new = new_images(directory, seen)
        if new:
            handle(new)
        if once:
            return
        stop.wait(interval_s)
