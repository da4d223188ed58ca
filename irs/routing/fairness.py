"""Fair shares of the interactive queues between owners: who may go ahead, and who waits in the later lane.

Every request has an owner (a web token's name, a job's or a command's
operator). Each process that sends requests keeps, per owner, a token bucket:
``burst`` requests at once, refilled at ``rate`` a second. A request within it
goes to the interactive queues (the router then picks cloud or edge). Past it,
the owner's requests go to the later lane, the jobs queue, which the cloud's
workers take only when no interactive request is waiting
(:mod:`irs.broker.transport`), and they keep going there, in the order sent,
until the owner has paused for ``burst / rate`` seconds. So:

- an owner alone gets the whole cloud fleet: the later lane is served as soon
  as the interactive queues are empty;
- another owner's request waits behind at most ``burst`` of the big owner's
  (per sending process), not behind its whole batch;
- nothing is refused or dropped: the big owner's own wait grows instead, as in
  SQS fair queues;
- within an owner, requests keep the order they were sent in, except that the
  first ``burst`` of a batch go ahead of the rest.

The decision is a pure function (:func:`admit`) over an owner's
:class:`Bucket`; :class:`Shares` holds the buckets of one process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from enum import StrEnum

MAX_OWNERS = 10_000  # owners a process remembers; the quietest is forgotten first (it would be full again)


class Lane(StrEnum):
    INTERACTIVE = "interactive"
    LATER = "later"


class Cause(StrEnum):
    """Why a request went to its lane."""

    WITHIN_SHARE = "within_share"  # the owner had a token: the interactive queues
    OVER_SHARE = "over_share"  # the owner has just used its burst up: the later lane
    KEEPS_ORDER = "keeps_order"  # the owner's earlier requests wait in the later lane: so does this one


@dataclass(frozen=True)
class Share:
    """An owner's share of the interactive queues, from one process."""

    burst: int
    rate: float  # tokens a second

    @property
    def pause_s(self) -> float:
        """How long an owner in the later lane must pause before it is interactive again: a full bucket's refill."""
        return self.burst / self.rate


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float  # when ``tokens`` was counted (time.monotonic())
    later: bool = False  # the owner's requests go to the later lane until it pauses


@dataclass(frozen=True)
class Admission:
    lane: Lane
    cause: Cause
    reason: str


def admit(bucket: Bucket | None, now: float, share: Share) -> tuple[Bucket, Admission]:
    """The lane of an owner's next request, and the owner's bucket after it (``bucket`` None: a new owner)."""
    if bucket is None:
        bucket = Bucket(float(share.burst), now)
    paused = now - bucket.at
    tokens = min(float(share.burst), bucket.tokens + paused * share.rate)
    if bucket.later and paused < share.pause_s:
        return replace(bucket, tokens=tokens, at=now), Admission(
            Lane.LATER, Cause.KEEPS_ORDER, f"its owner's earlier requests wait in the later lane (until it pauses "
            f"for {share.pause_s:g} s)")
    if tokens >= 1:
        return Bucket(tokens - 1, now), Admission(Lane.INTERACTIVE, Cause.WITHIN_SHARE,
                                                  "within its owner's share of the interactive queues")
    return Bucket(tokens, now, later=True), Admission(
        Lane.LATER, Cause.OVER_SHARE, f"its owner sent over {share.burst} at once (or over {share.rate:g} a second): "
        "the later lane, behind every other owner's requests")


class Shares:
    """One process's buckets, one per owner, safe to share between threads."""

    def __init__(self, share: Share) -> None:
        self.share = share
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, owner: str, now: float) -> Admission:
        with self._lock:
            bucket, admission = admit(self._buckets.pop(owner, None), now, self.share)
            self._buckets[owner] = bucket  # the most recent last: the first is the quietest
            if len(self._buckets) > MAX_OWNERS:
                self._buckets.popitem(last=False)
        return admission
