"""The Celery router (``task_routes``): every classify request goes where it will be answered sooner.

``classify.delay(key)``, ``irs classify`` and the web tier all pass through it.
A request that names its queue (``apply_async(..., queue="edge")``) is pinned
there. A request whose owner is past its share of the interactive queues goes
to the later lane (:mod:`irs.routing.fairness`). The decision and its reason travel with the message (header
``irs_route``) and end up in the result document. Routing never raises to the
publisher: whatever goes wrong in it, the request goes to the cloud, with the
cause ``error`` and what went wrong as its reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from irs.contract import OWNER, TASK_NAME, model_of
from irs.pools import CLOUD, JOBS
from irs.routing import metrics
from irs.routing.fairness import Admission, Lane, Share, Shares
from irs.routing.observe import Observer
from irs.routing.policy import Cause, Choice, PoolView, choose
from irs.settings import get_settings

logger = logging.getLogger(__name__)
_last = threading.local()  # the decision for the message this thread is about to publish


@cache
def observer() -> Observer:
    """This process's view of the pools, made on the first request it routes."""
    return Observer()


@cache
def shares() -> Shares:
    """This process's share of the interactive queues per owner, made on the first request it routes."""
    settings = get_settings()
    return Shares(Share(settings.fair_burst, settings.fair_rate))


def route(name: str, args: Any, kwargs: Any, options: dict[str, Any], task: Any = None, **_: Any
          ) -> dict[str, Any] | None:
    if name != TASK_NAME:
        return None
    pinned = options.get("queue")
    model = model_of(args, kwargs)
    if pinned:
        choice = choose(None, pinned=getattr(pinned, "name", pinned))
    elif (later := _later(options.get("headers"), model)) is not None:
        choice = later
    else:
        choice = _decided(lambda: observer().views(model=model))
    metrics.record_choice(choice)
    _last.choice = choice
    return {"queue": choice.pool}


def _later(headers: Any, model: str | None) -> Choice | None:
    """Where a request goes whose owner is past its share of the interactive queues: the later lane, or another
    pool (the edge) if that answers sooner than the cloud would once its own queue and the later lane are done,
    so an owner alone still has the whole fleet. None: the interactive queues, as any request."""
    owner = headers.get(OWNER) if isinstance(headers, dict) else None
    admission = _admitted(owner) if isinstance(owner, str) else None
    if admission is None or admission.lane is Lane.INTERACTIVE:
        return None
    try:
        views = observer().later_views(model=model)
        if views and CLOUD in views and not views[CLOUD].holds_model:
            return None  # the cloud's workers would answer that they lack the model: the pool that holds it
        pool = choose(views)
    except Exception as error:  # noqa: BLE001 - a request is never refused for a routing fault
        logger.warning("routing failed, sending to the later lane: %r", error)
        pool = Choice(CLOUD, Cause.ERROR, "routing failed", {})
    choice = Choice(JOBS, Cause.LATER, admission.reason, pool.expected_s) if pool.pool == CLOUD else \
        Choice(pool.pool, pool.cause, f"{admission.reason[:200]}; {pool.reason}"[:500], pool.expected_s)
    observer().sent_to(choice)
    return choice


def _admitted(owner: str) -> Admission | None:
    """The lane of ``owner``'s next request, counted; None while fairness is off, and on an edge device (which may
    not send to the later lane: its own images are pinned to its queue)."""
    settings = get_settings()
    if not settings.fairness or settings.device_queue:
        return None
    admission = shares().admit(owner, time.monotonic())
    metrics.record_admission(admission)
    return admission


def cloud_lane(owner: str) -> str:
    """The cloud's queue for a request of ``owner`` that only the cloud can serve (an object in a watched bucket):
    its interactive queue, or the later lane once the owner is past its share."""
    admission = _admitted(owner)
    return CLOUD if admission is None or admission.lane is Lane.INTERACTIVE else JOBS


def choose_for_local(size_bytes: int, model: str | None = None) -> Choice:
    """Where an image taken on this device goes: its own queue (read in place) or, uploaded, edge or cloud, among
    the pools whose workers hold ``model``.

    The caller uploads when the choice is not the device's queue, then sends the
    request pinned there with this choice as its ``irs_route`` header.
    """
    choice = _decided(lambda: observer().views(local_bytes=size_bytes, model=model))
    metrics.record_choice(choice)
    return choice


def _decided(views: Callable[[], dict[str, PoolView] | None]) -> Choice:
    """The choice for ``views``, counted in the observer's backlogs; the cloud, with the cause ``error``, if
    anything in that raises: a request is never refused for a routing fault."""
    try:
        choice = choose(views())
        observer().sent_to(choice)
    except Exception as error:  # noqa: BLE001 - see the docstring
        logger.warning("routing failed, sending to the cloud: %r", error)
        choice = Choice(CLOUD, Cause.ERROR, f"routing failed ({type(error).__name__}): the default pool", {})
    return choice


def uploaded(size_bytes: int, seconds: float) -> None:
    """One upload this device made: what the router learns its uplink from."""
    observer().uploaded(size_bytes, seconds)


def take_last() -> Choice | None:
    """The decision made for the message being published on this thread (once)."""
    choice: Choice | None = getattr(_last, "choice", None)
    _last.choice = None
    return choice
