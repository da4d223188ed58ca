"""The networks a worker process holds: its default model always, the others requests name on demand.

A request names a built-in model (installed on the worker) or a repository version (fetched into the
local cache on first use, :mod:`irs.repository.cache`). At most ``IRS_MODELS_PER_PROCESS`` networks stay
loaded, the default among them; the least recently used other goes first. A version pinned by its whole
id is served from memory without asking S3 again, so one removed from the repository while requests
for it waited is still served by a process that holds it; a process that does not answers with an
error naming it.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import cache

from irs.contract import split_ref
from irs.inference.recognition import Recognizer, load
from irs.inference.registry import REGISTRY, ModelError, resolve
from irs.repository.cache import installed
from irs.repository.check import spec_of
from irs.repository.store import NotFound, find
from irs.settings import get_settings


class Networks:
    def __init__(self) -> None:
        self.default: Recognizer | None = None  # never evicted
        self.held: OrderedDict[str, Recognizer] = OrderedDict()  # the others, least recently used first

    def get(self, ref: str | None) -> Recognizer:
        """The loaded network ``ref`` names (the default model for None); ModelError if it cannot be had."""
        settings = get_settings()
        if ref is None or ref == settings.model:
            if self.default is None:
                self.default = load(settings.model, settings)
            return self.default
        if ref in self.held:
            self.held.move_to_end(ref)
            return self.held[ref]
        name, version = split_ref(ref)
        if name in REGISTRY and version is None:
            spec, directory = resolve(name, settings)
            return self._hold(ref, Recognizer(spec, directory, settings))
        try:
            manifest = find(ref, settings)  # a name or a short version is looked up each time: it may move
        except NotFound as error:
            raise ModelError(str(error)) from None
        pinned = f"{manifest.name}@{manifest.version}"
        if pinned in self.held:
            self.held.move_to_end(pinned)
            return self.held[pinned]
        own_size = settings.model_copy(update={"input_size": None})  # IRS_INPUT_SIZE is the default model's
        return self._hold(pinned, Recognizer(spec_of(manifest), installed(manifest, settings), own_size))

    def _hold(self, ref: str, recognizer: Recognizer) -> Recognizer:
        self.held[ref] = recognizer
        while len(self.held) > get_settings().models_per_process - 1:
            self.held.popitem(last=False)
        return recognizer


@cache
def networks() -> Networks:
    """The process's networks (each worker process has its own)."""
    return Networks()
