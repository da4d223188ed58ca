"""The routing decision: a pure function from what each pool looks like to the pool that answers sooner.

Expected completion time of one more image in a pool = getting the image where
the pool can read it + waiting for the work queued ahead of it + its own
service time. The queue ahead drains at ``slots / service_s`` images a
second over the pool's live workers, also between observations (see
:func:`drained`); capacity the autoscaler is booting joins them once it would
be up (:func:`finish_s`). A pool with no live worker and nothing booting can
never answer.

Requests already queued move too (:func:`rebalance`): when the last request
waiting in one pool would be answered later than it would be in another, by
more than a margin, enough of them move to even the two out, and never back
within a cooldown, so nothing ping-pongs.

The choice compares each pool's expected time plus a margin for its own
spread: a slow pool's images vary by more seconds, and minimising each
request's mean alone fills the p95 with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from irs.pools import CLOUD

TAIL_Z = 1.645  # the margin covers a service time up to its 95th percentile
DEFAULT_SPREAD = 0.2  # log standard deviation of a pool's service time, until one is learned


REBALANCE_MARGIN_S = 5.0  # a move must bring a pool's last waiting request forward by more than this
REBALANCE_COOLDOWN_S = 60.0  # after a move from A to B, nothing moves from B to A for this long
REBALANCE_MOST = 500  # requests moved per pool and turn, at most (a turn is a few seconds)


def drained(queued: float, seconds: float, slots: int, service_s: float) -> float:
    """What is left of ``queued`` images after ``seconds`` of work by ``slots`` at ``service_s`` each."""
    return max(0.0, queued - seconds * slots / service_s) if slots and service_s > 0 else queued


def finish_s(queued: float, slots: int, service_s: float, booting_slots: int = 0, boot_remaining_s: float = 0.0
             ) -> float:
    """Seconds until ``queued`` images are done by ``slots`` at ``service_s`` each, joined by ``booting_slots``
    once they are up in ``boot_remaining_s``; inf when nothing serves or will."""
    work = queued * service_s  # slot-seconds
    if slots and (not booting_slots or work <= slots * boot_remaining_s):
        return work / slots
    if not booting_slots:
        return math.inf if work else 0.0
    return boot_remaining_s + (work - slots * boot_remaining_s) / (slots + booting_slots)


@dataclass(frozen=True)
class PoolView:
    name: str
    queued: float  # images ahead, waiting or in service: the last observation, drained since, plus routed since
    workers: int  # live workers (reported recently)
    slots: int  # tasks the live workers run at once, together
    service_s: float  # seconds one image takes, learned from the workers' own timings
    upload_s: float = 0.0  # getting this image to where the pool reads it (0 if it is already there)
    booting_slots: int = 0  # capacity the autoscaler is bringing up
    boot_remaining_s: float = 0.0  # until that capacity is up
    spread: float = DEFAULT_SPREAD  # log standard deviation of its service time
    measured: bool = True  # service_s was measured by its workers, not assumed
    probing: bool = False  # a request went to measure this pool, and no measurement has come back yet
    own_s: float | None = None  # this request's model's time here, when the pool's workers measured it
    holds_model: bool = True  # its workers can serve this request's model (a built-in one's files are there)

    @property
    def this_s(self) -> float:
        """The time of this request itself: its model's, or the pool's when that is unknown."""
        return self.own_s or self.service_s

    @property
    def serves(self) -> bool:
        """Whether anything serves this pool now or will soon: a live worker, or capacity booting."""
        return bool(self.slots or self.booting_slots)

    def finish_s(self, queued: float) -> float:
        """Seconds until ``queued`` images are done here, counting the capacity booting."""
        return finish_s(queued, self.slots, self.service_s, self.booting_slots, self.boot_remaining_s)

    def expected_s(self) -> float:
        if not self.serves:
            return math.inf
        return self.upload_s + self.finish_s(self.queued) + self.this_s

    def due_s(self) -> float:
        """The expected time plus this pool's margin for a slow draw."""
        return self.expected_s() + self.this_s * (math.exp(TAIL_Z * self.spread) - 1)


class Cause(StrEnum):
    """Why a request went where it went; ``reason`` says the same for a person, with the numbers."""

    PINNED = "pinned"  # the caller named the queue
    STALE = "stale"  # no fresh observation of the pools: the default pool
    NO_EDGE = "no_edge"  # no worker but the cloud's was seen recently
    MEASURING = "measuring"  # a pool's time per image is still a guess: this request measures it
    FASTER = "faster"  # the pool expected to answer sooner at the 95th percentile
    ERROR = "error"  # routing itself failed: the default pool
    LATER = "later"  # its owner is past its share of the interactive queues: the later lane (the jobs queue)


@dataclass(frozen=True)
class Choice:
    pool: str
    cause: Cause
    reason: str
    expected_s: dict[str, float]

    def as_header(self) -> dict[str, object]:
        return {"pool": self.pool, "cause": self.cause.value, "reason": self.reason,
                "expected_s": {k: (round(v, 3) if math.isfinite(v) else None) for k, v in self.expected_s.items()}}


def choose(views: dict[str, PoolView] | None, pinned: str | None = None) -> Choice:
    """The pool for one request; cloud whenever the edge cannot be relied on.

    Besides ``cloud`` and ``edge``, ``views`` may hold an edge device's own
    queue, for an image taken on that device; any pool but the cloud is a
    candidate only while a worker of it has been seen.
    """
    if pinned:
        return Choice(pinned, Cause.PINNED, f"pinned to {pinned} by the caller", {})
    if not views or CLOUD not in views:
        return Choice(CLOUD, Cause.STALE, "no fresh observations: the default pool", {})
    cloud = views[CLOUD]
    if not cloud.workers and not cloud.booting_slots:
        # Nothing is known of the cloud yet (a stack starting): "cloud in inf" must not send every request to
        # the edge. They wait in the cloud's queue, where the always-on worker and the autoscaler serve them.
        return Choice(CLOUD, Cause.STALE, "no cloud worker has reported yet: the default pool", {})
    expected = {name: view.expected_s() for name, view in views.items()}
    # A pool still being measured takes nothing more until its measurement comes back: a pool guessed fast
    # but in fact slow would otherwise be sent every request of a burst, each counted as its "first".
    live = {name: view for name, view in views.items()
            if name == CLOUD or (view.workers and view.holds_model and not (view.probing and not view.measured))}
    holders = {name: view for name, view in live.items() if name != CLOUD}
    if not cloud.holds_model and holders:  # the cloud's workers would answer that they lack the model
        best = min(holders, key=lambda name: holders[name].due_s())
        return Choice(best, Cause.FASTER, f"{best} holds this request's model; the cloud's workers do not",
                      expected)
    if len(live) == 1:
        if any(view.probing for view in views.values()):
            return Choice(CLOUD, Cause.FASTER, "the other pools are still being measured", expected)
        if any(view.workers and not view.holds_model for name, view in views.items() if name != CLOUD):
            return Choice(CLOUD, Cause.NO_EDGE, "no edge worker holds this request's model", expected)
        return Choice(CLOUD, Cause.NO_EDGE, "no edge worker seen recently", expected)
    # A pool's time is only a guess until it has served something: an idle one gets this request,
    # one at a time, so the guess is replaced by a measurement (else a pool guessed slow would never
    # be tried, and never be found fast). Of several, the one this image reaches soonest.
    unmeasured = [name for name, view in live.items() if name != CLOUD and not view.measured and view.queued < 1]
    if unmeasured:
        name = min(unmeasured, key=lambda n: expected[n])
        return Choice(name, Cause.MEASURING, f"{name} has no measured time per image yet: this request measures it",
                      expected)
    due = {name: view.due_s() for name, view in live.items()}
    best = min(due, key=lambda name: (due[name], name != CLOUD))  # a tie goes to the cloud
    others = ", ".join(f"{name} in {due[name]:.2f} s" for name in sorted(due) if name != best)
    return Choice(best, Cause.FASTER, f"{best} answers in {due[best]:.2f} s at the 95th percentile, {others}",
                  expected)


class MoveCause(StrEnum):
    """Why queued requests move from one pool to another."""

    STRANDED = "stranded"  # nothing serves the pool they wait in, nor is booting
    SOONER = "sooner"  # the other pool answers them sooner, by more than the margin


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    count: int
    cause: MoveCause
    reason: str


def rebalance(views: dict[str, PoolView], waiting: dict[str, int], last_moved: dict[tuple[str, str], float],
              now: float, margin_s: float = REBALANCE_MARGIN_S, cooldown_s: float = REBALANCE_COOLDOWN_S,
              most: int = REBALANCE_MOST) -> list[Move]:
    """The requests to move between pools now, from each pool's view (``queued``: waiting plus in service) and
    how many wait there unstarted (``waiting``: only those can move).

    A pool nobody serves hands all its waiting requests to one that is served. Otherwise requests move from A
    to B while A's last one would finish later than B's would with it, and only if the first one moved gains
    more than ``margin_s``: the move evens the two out and stops, so the reverse gains nothing. Nothing moves
    back along a pair within ``cooldown_s`` of a move (``last_moved``: when each (source, target) last moved).
    """
    moves: list[Move] = []
    for source, view in views.items():
        count = min(waiting.get(source, 0), most)
        if count <= 0:
            continue
        if not view.serves:  # the cloud is always served in the end: the autoscaler keeps an instance there
            rescuers = [t for t in views if t != source and (views[t].serves or t == CLOUD)]
            if rescuers:
                target = min(rescuers, key=lambda t: views[t].finish_s(views[t].queued + count))
                moves.append(Move(source, target, count, MoveCause.STRANDED,
                                  f"nothing serves {source}: {count} waiting request(s) moved to {target}"))
            continue
        targets = [t for t in views if t != source and views[t].serves
                   and now - last_moved.get((t, source), -math.inf) >= cooldown_s]
        best: Move | None = None
        for target in targets:
            there = views[target]
            last_here, first_there = view.finish_s(view.queued), there.finish_s(there.queued + 1)
            if last_here - first_there <= margin_s:
                continue
            k = _evening(view, there, count)
            if best is None or k > best.count:
                best = Move(source, target, k, MoveCause.SOONER,
                            f"the last of {view.queued:.0f} in {source} is done in {last_here:.0f} s, in {target} "
                            f"it would be in {first_there:.0f} s: {k} moved to even them out")
        if best is not None:
            moves.append(best)
    return moves


def _evening(source: PoolView, target: PoolView, most: int) -> int:
    """The most requests (1 to ``most``) whose move still leaves the source finishing no sooner than the target."""
    low, high = 1, most
    while low < high:
        k = (low + high + 1) // 2
        if source.finish_s(source.queued - k) >= target.finish_s(target.queued + k):
            low = k
        else:
            high = k - 1
    return low
