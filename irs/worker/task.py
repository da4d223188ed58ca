"""What every classify request gets around its body: its id, its model pinned, its timings, its answer.

Like a web framework's request handling, :class:`RecognitionTask` keeps the task body bare: the body
(:func:`irs.tasks.classify`) says what recognising an image is, and this base does the bookkeeping the
same way for every request. It names each request after its image, times the stages, fills in the facts
every result document carries, builds the document as a :class:`~irs.results.ResultDocument`, counts it,
and turns input that cannot be classified (:data:`UNANSWERABLE`) into an error document: answered once,
never retried.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task

from irs import metrics
from irs.contract import FILENAME, OWNER, ROUTE, SENT_AT, UPLOAD_MS, BadCall, call_of, with_model
from irs.inference.imaging import BadImage
from irs.inference.registry import ModelError
from irs.repository.store import pin
from irs.results import ErrorKind, ResultDocument, Timings, error_document, fitted, iso, new_task_id
from irs.settings import get_settings

logger = logging.getLogger(__name__)
#: Input that cannot be classified: a bad image, a model this worker cannot have. Each has its ErrorKind.
UNANSWERABLE = (BadImage, ModelError)


class Run:
    """One request's bookkeeping: when it was sent and started, its stage timings, the facts its document
    carries (pool, route, worker, model, source), and the document itself."""

    def __init__(self, request: Any, image_key: str) -> None:
        self.image_key, self.task_id = image_key, request.id
        self.started = time.time()
        sent_at = request.get(SENT_AT)
        self.timings = Timings(queue_wait=_ms(self.started - sent_at) if sent_at else None,
                               upload=request.get(UPLOAD_MS))
        self.facts: dict[str, Any] = {
            "pool": get_settings().pool_name, "routing": request.get(ROUTE),
            "worker": request.hostname or socket.gethostname(),
            "submitted_at": iso(sent_at) if sent_at else None, "started_at": iso(self.started),
            "owner": request.get(OWNER), "filename": request.get(FILENAME)}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage of the work; ``name`` is one of :class:`~irs.results.Timings`' fields."""
        begin = time.perf_counter()
        yield
        setattr(self.timings, name, _ms(time.perf_counter() - begin))

    def answer(self, **fields: Any) -> dict[str, Any]:
        """The request's ok document, from what the body found, with the facts and timings added."""
        return self._counted(fitted({"image_key": self.image_key, "task_id": self.task_id, "status": "ok",
                                     **fields, **self._common()}))

    def error(self, reason: str, kind: ErrorKind) -> dict[str, Any]:
        """The request's error document: answered once and never retried."""
        return self._counted(error_document(self.image_key, self.task_id, reason, kind, **self._common()))

    def _common(self) -> dict[str, Any]:
        return {**self.facts, "timings_ms": self.timings.model_dump(), "finished_at": iso()}

    @staticmethod
    def _counted(document: ResultDocument) -> dict[str, Any]:
        metrics.record_result(document)
        answer: dict[str, Any] = document.as_json()
        return answer


class RecognitionTask(Task):
    """The base of the classify task: see the module's docstring."""

    Request = "irs.worker.lifecycle:TimedRequest"

    def apply_async(self, args: Any = None, kwargs: Any = None, task_id: str | None = None,
                    **options: Any) -> Any:
        """Name the task after its image, give it an owner (this process's, ``IRS_OWNER``, unless the caller's
        headers name one), and name its model: the deployment's default (``IRS_MODEL``) when the
        caller names none, so that the edge and the cloud answer it alike; a model the caller names, pinned to the
        version it means now (raising :class:`~irs.repository.store.NotFound` at once for one that does not
        exist)."""
        try:
            call = call_of(list(args or ()), dict(kwargs or {}))
        except BadCall:  # sent as it is, for the worker to refuse with its reason
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        if task_id is None and isinstance(call.image_key, str) and call.image_key:
            task_id = new_task_id(call.image_key)
        settings = get_settings()
        options["headers"] = {OWNER: settings.owner, **(options.get("headers") or {})}  # the router reads it
        if call.model is None:  # the same model whatever pool answers; named as it is, with no lookup per request
            args, kwargs = with_model(args, kwargs, settings.model)
        elif isinstance(call.model, str):
            args, kwargs = with_model(args, kwargs, pin(call.model, settings))
        return super().apply_async(args, kwargs, task_id=task_id, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body with this request's :class:`Run` as ``self.current``; what it cannot answer becomes an
        error document."""
        call = call_of(args, kwargs)
        run = self.request.irs_run = Run(self.request, call.image_key)
        try:
            return super().__call__(*args, **kwargs)
        except UNANSWERABLE as error:
            logger.info("%s: %s", call.image_key, error)
            if isinstance(error, BadImage):
                return run.error(str(error), error.kind)
            return run.error(f"model {call.model}: {error}", ErrorKind.MODEL_UNAVAILABLE)

    @property
    def current(self) -> Run:
        """This request's bookkeeping (set by :meth:`__call__` before the body runs)."""
        run: Run = self.request.irs_run
        return run


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
