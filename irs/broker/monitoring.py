"""Remote control and task events on SQS: the bridges stock Celery and kombu lack.

kombu 5.7's SQS transport can fan out through SNS (``supports_fanout``), but
Celery does not use it. Selected by ``broker_transport`` when
``IRS_MONITORING`` is on, this transport closes the four gaps:

1. **The transport advertises only direct exchanges**, so Celery never starts a
   worker's control mailbox (``Control.include_if`` asks for fanout). Here it
   advertises fanout when SNS fanout is on.
2. **Control replies are dropped.** They go to the direct exchange
   ``reply.celery.pidbox``, whose binding exists only in the asking client's
   memory; the replying worker finds no queue. Here a reply with no binding
   goes to the queue kombu's Mailbox names after its routing key.
3. **no_ack consumers outside a worker** (reply collectors, ``celery events``,
   Flower) delete messages through the asynchronous client, which needs an
   event loop they do not have (``'NoneType' object has no attribute
   'on_close'``). Here they delete with the blocking client.
4. **Events vanish.** Celery makes the ``celeryev`` exchange fanout only for
   redis and gcpubsub; on SQS it stays a topic exchange bound nowhere. Here it
   is declared fanout.

And consumers without an event loop long-poll for a second, not the workers'
ten: a reply collector otherwise waits out a whole long poll after its last
reply.

A malformed or foreign message on a control or event queue is dropped before
it reaches its consumer, as on every queue (:mod:`irs.broker.transport`).

Bridges 1 and 4 look at what upstream does (the transport's advertised
exchange types; the exchange Celery builds for events on SQS) and step aside
where it already does the right thing. Bridges 2 and 3 have no such probe:
they are known to be needed in kombu 5.7.0, and each has a test that fails
without it (tests/broker/test_monitoring.py). Queues that are meant to die with their consumer
(``auto_delete``: reply queues, event receivers) are deleted, with their SNS
subscription, when the channel closes: SQS has no such queues of its own.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from kombu.transport import SQS

from irs.aws.clients import AWS_ERRORS
from irs.aws.feeds import HEARTBEAT_S, HEARTBEAT_TAG
from irs.broker import transport
from irs.settings import get_settings

logger = logging.getLogger(__name__)


@cache
def celery_makes_sqs_events_fanout() -> bool:
    """Whether Celery itself already declares the event exchange fanout on SQS."""
    from types import SimpleNamespace

    from celery.events.event import get_exchange

    exchange = get_exchange(SimpleNamespace(transport=SimpleNamespace(driver_type="sqs")))
    return bool(exchange.type == "fanout")


REPLY_EXCHANGE_SUFFIX = ".pidbox"
EVENT_EXCHANGE = "celeryev"
CLIENT_WAIT_S = 1  # long poll of a consumer with no event loop: a reply collector or an event receiver


class Channel(transport.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._auto_delete: dict[str, str | None] = {}  # queue -> the fanout exchange it is bound to
        self._beats: dict[str, float] = {}  # auto-delete queue -> when it was last tagged as in use

    # 4. events: a fanout exchange, whatever Celery asked for
    def exchange_declare(self, exchange: str | None = None, type: str = "direct", *args: Any, **kwargs: Any
                         ) -> Any:
        if exchange == EVENT_EXCHANGE and self.supports_fanout and not celery_makes_sqs_events_fanout():
            type = "fanout"
        return super().exchange_declare(exchange, type, *args, **kwargs)

    # 2. replies: routed by their routing key when the binding lives elsewhere
    def _lookup(self, exchange: str, routing_key: str, default: str | None = None) -> list[str]:
        if exchange and exchange.startswith("reply.") and exchange.endswith(REPLY_EXCHANGE_SUFFIX):
            try:
                found = self.typeof(exchange).lookup(self.get_table(exchange), exchange, routing_key, None)
            except KeyError:
                found = []
            return found or [f"{routing_key}.{exchange}"]
        result: list[str] = super()._lookup(exchange, routing_key, default)
        return result

    # 3. no_ack deletes without an event loop
    def _delete_message(self, queue_name: str, message: dict[str, Any]) -> None:
        if self.hub is not None:
            super()._delete_message(queue_name, message)
            return
        self.sqs(queue=queue_name).delete_message(QueueUrl=self._new_queue(queue_name),
                                                  ReceiptHandle=message["ReceiptHandle"])

    # Consumers without an event loop (reply collectors, event receivers) poll one queue at a time and
    # block for the whole long poll: `inspect ping` took 10 s with the workers' 10 s wait, for a reply
    # that had arrived in milliseconds. They poll for a second at most.
    @property
    def wait_time_seconds(self) -> int:
        wait: int = super().wait_time_seconds
        return wait if self.hub is not None else min(wait, CLIENT_WAIT_S)

    # Events leave the publishing thread, and only the types asked for go out. Each one is an SNS
    # Publish plus a delivery and a receive per listener. With every task event sent, an idle image's
    # end-to-end latency rose by 27 % on the local stack (bench/monitoring.py): the emulator's CPU,
    # shared with everything else, went to eight extra requests per image. Publishing from a sender
    # thread alone did not change that; sending only how tasks ended (IRS_MONITORING_EVENTS) did.
    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> Any:
        if exchange != EVENT_EXCHANGE:
            return super()._put_fanout(exchange, message, routing_key, **kwargs)
        wanted = _wanted_only(message)
        if wanted is None:
            return None
        message = wanted
        publish = super()._put_fanout
        _event_sender().submit(_publish_quietly, publish, exchange, message, routing_key, kwargs)
        return None

    # queues that die with their consumer, and say while it lives (the janitor leaves them alone)
    def _get_bulk(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        self._beat(queue)
        return super()._get_bulk(queue, *args, **kwargs)

    def _get(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        self._beat(queue)
        return super()._get(queue, *args, **kwargs)

    def _get_from_sqs(self, queue_name: str, queue_url: str, connection: Any, count: int = 1,
                      callback: Any = None) -> Any:
        self._beat(queue_name)
        return super()._get_from_sqs(queue_name, queue_url, connection, count=count, callback=callback)

    def _beat(self, queue: str) -> None:
        """Tag an auto-delete queue this consumer polls, at most every ``HEARTBEAT_S``: a slow consumer's
        backlog is not a dead one's (:mod:`irs.janitor.orphans`)."""
        if queue not in self._auto_delete:
            return
        now = time.time()
        if now - self._beats.get(queue, 0.0) < HEARTBEAT_S:
            return
        self._beats[queue] = now
        try:
            self.sqs(queue=queue).tag_queue(QueueUrl=self._new_queue(queue), Tags={HEARTBEAT_TAG: str(int(now))})
        except AWS_ERRORS as error:  # the next beat tries again; the sweep waits far longer than one
            logger.warning("could not mark %s as in use: %s", queue, error)

    def queue_declare(self, queue: str | None = None, passive: bool = False, *args: Any, **kwargs: Any) -> Any:
        declared = super().queue_declare(queue, passive, *args, **kwargs)
        if kwargs.get("auto_delete") and not passive:
            self._auto_delete.setdefault(declared.queue, None)
        return declared

    def queue_bind(self, queue: str, exchange: str | None = None, routing_key: str = "", *args: Any,
                   **kwargs: Any) -> Any:
        if queue in self._auto_delete and exchange and self._exchange_is_fanout(exchange):
            self._auto_delete[queue] = exchange
        return super().queue_bind(queue, exchange, routing_key, *args, **kwargs)

    def close(self) -> None:
        for queue, exchange in list(self._auto_delete.items()):
            try:
                self._delete(queue, exchange)
            except Exception as error:  # noqa: BLE001 - closing must go on; the sweep removes what stays
                logger.warning("could not remove the auto-delete queue %s: %s", queue, error)
        self._auto_delete.clear()
        super().close()


def _wanted_only(message: dict[str, Any]) -> dict[str, Any] | None:
    """The event message with only the event types IRS_MONITORING_EVENTS asks for ("*" at the end of
    one matches a prefix), or None if none is left. A worker sends task events in batches (a list,
    routing key ``task.multi``), so a batch is filtered event by event."""
    encoded = message.get("properties", {}).get("body_encoding") == "base64"
    try:
        body = json.loads(base64.b64decode(message["body"]) if encoded else message["body"])
        events = body if isinstance(body, list) else [body]
        kinds = [str(event["type"]) for event in events]
    except (KeyError, TypeError, ValueError):
        return message  # not an event IRS can read: send it as it is
    wanted = [w.strip() for w in get_settings().monitoring_events.split(",") if w.strip()]
    keep = [event for event, kind in zip(events, kinds, strict=True)
            if any(kind == w or (w.endswith("*") and kind.startswith(w[:-1])) for w in wanted)]
    if not keep:
        return None
    if len(keep) == len(events):
        return message
    text = json.dumps(keep if isinstance(body, list) else keep[0])
    return {**message, "body": base64.b64encode(text.encode()).decode() if encoded else text}


_sender: tuple[int, ThreadPoolExecutor] | None = None


def _event_sender() -> ThreadPoolExecutor:
    """This process's event sender (a prefork child gets its own, not its parent's copy)."""
    global _sender
    if _sender is None or _sender[0] != os.getpid():
        _sender = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="irs-events"))
    return _sender[1]


def _publish_quietly(publish: Any, exchange: str, message: dict[str, Any], routing_key: str,
                     kwargs: dict[str, Any]) -> None:
    try:
        publish(exchange, message, routing_key, **kwargs)
    except Exception as error:  # noqa: BLE001 - a lost event must not break the sender for the next ones
        logger.warning("could not publish an event: %s", error)


class Transport(transport.Transport):
    Channel = Channel
    # 1. fanout, which Celery requires before it starts a worker's control mailbox
    implements = SQS.Transport.implements.extend(
        exchange_type=SQS.Transport.implements.exchange_type | {"fanout"})
