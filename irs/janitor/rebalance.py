"""Queued requests move to the pool that answers them sooner: the janitor's half of routing.

The router decides where a request goes when it is sent; a burst can still
leave work where it waits longest (the router's view was right when taken,
then the cloud fleet grew), and a pool can lose its last worker (an edge
device gone: its requests would wait for nobody). Every few seconds this job
observes both pools afresh (queue depths, live workers' reports, the
capacity the autoscaler is booting), asks :func:`irs.routing.policy.rebalance`
what to move, and moves it message for message: receive, send to the other
queue, delete. At worst a request is served twice, never lost, and its result
document is written once (by its task id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from irs.aws import queues
from irs.aws.clients import client
from irs.broker import envelope
from irs.fleet import autoscaler_state, reports
from irs.fleet.liveness import WORKER_GONE_S
from irs.pools import CLOUD, EDGE
from irs.routing.metrics import record_move
from irs.routing.observe import capacity, holds
from irs.routing.policy import PoolView, rebalance

logger = logging.getLogger(__name__)
MOVABLE = (CLOUD, EDGE)  # a device's own queue holds images only it may read: they stay
EVERY_S = 5.0
MOVED_ATTRIBUTE = "irs-moves"  # how often a request was moved, on the message


class Rebalancer:
    """One turn at a time (:meth:`turn`), remembering when each pair of pools last moved (for the cooldown).

    ``silent_s``: a worker whose report is older than this is gone (the heartbeat's limit by default).
    """

    def __init__(self, silent_s: float = WORKER_GONE_S, clock: Callable[[], float] = time.time) -> None:
        self.silent_s, self.clock = silent_s, clock
        self.last_moved: dict[tuple[str, str], float] = {}

    def turn(self) -> int:
        """Observe, decide, move; returns how many requests moved."""
        depths = {pool: queues.pool_depth(pool) for pool in MOVABLE}
        if not any(depth.waiting for depth in depths.values()):
            return 0  # the usual answer, at two requests
        now = self.clock()
        serving = {pool: self._serving(pool, now) for pool in MOVABLE}
        views = {pool: self._view(pool, depths[pool], serving[pool], now) for pool in MOVABLE}
        moved = 0
        for move in rebalance(views, {pool: depth.waiting for pool, depth in depths.items()}, self.last_moved, now):
            count = move_requests(move.source, move.target, move.count, partial(holds, serving=serving[move.target]))
            if count:
                self.last_moved[(move.source, move.target)] = now
                record_move(move, count)
                logger.info("moved %d request(s) from %s to %s (%s): %s", count, move.source, move.target,
                            move.cause.value, move.reason)
            moved += count
        return moved

    def _serving(self, pool: str, now: float) -> list[reports.WorkerReport]:
        return [r for r in reports.read(pool, now).values() if now - r.updated_at < self.silent_s and not r.draining]

    def _view(self, pool: str, depth: queues.Depth, serving: list[reports.WorkerReport], now: float) -> PoolView:
        found = capacity(pool, serving)
        booting = autoscaler_state.read_booting(pool, now) if pool == CLOUD else None
        return PoolView(pool, depth.backlog, found.workers, found.slots, found.service_s, measured=found.measured,
                        booting_slots=booting.slots if booting else 0,
                        boot_remaining_s=booting.remaining_s(now) if booting else 0.0)


def move_requests(source: str, target: str, count: int,
                  holds: Callable[[str | None], bool] = lambda _: True) -> int:
    """Move up to ``count`` waiting requests from ``source``'s queue to ``target``'s: each is sent there before
    it is deleted here, with its attributes and a count of its moves. A request naming a model the target's workers
    do not hold (``holds``) stays, visible again at once. Returns how many moved."""
    sqs = client("sqs")
    source_url, target_url = queues.url(queues.names(source).queue), queues.url(queues.names(target).queue)
    moved = 0
    while moved < count:
        received = sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=min(queues.SQS_BATCH, count - moved),
                                       WaitTimeSeconds=0, MessageAttributeNames=["All"]).get("Messages", [])
        messages = [m for m in received if holds(envelope.model_named(m.get("Body", "")))]
        staying = [m for m in received if m not in messages]
        if staying:
            sqs.change_message_visibility_batch(QueueUrl=source_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, m in enumerate(staying)])
        if not messages:
            break
        for batch in _batches([_entry(n, m) for n, m in enumerate(messages)]):
            sent = sqs.send_message_batch(QueueUrl=target_url, Entries=batch)
            done = {entry["Id"] for entry in sent.get("Successful", [])}
            gone = [m for n, m in enumerate(messages) if str(n) in done]
            if gone:
                sqs.delete_message_batch(QueueUrl=source_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(gone)])
            moved += len(gone)  # one not sent stays here, visible again after its timeout
    return moved


def _entry(n: int, message: dict[str, Any]) -> dict[str, Any]:
    attributes = dict(message.get("MessageAttributes") or {})
    moves = int(attributes.get(MOVED_ATTRIBUTE, {}).get("StringValue", "0") or 0) + 1
    attributes[MOVED_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(moves)}
    return {"Id": str(n), "MessageBody": message["Body"], "MessageAttributes": attributes}


def _batches(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Entries in batches SQS takes: at most ten, and at most its message limit in all."""
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for entry in entries:
        length = queues.message_bytes(entry["MessageBody"], entry["MessageAttributes"])
        if batches[-1] and size + length > queues.SQS_MAX_MESSAGE_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += length
    return [batch for batch in batches if batch]
