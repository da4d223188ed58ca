"""kombu's SQS transport, with the behaviours IRS needs changed.

0. **Every message is checked before kombu and Celery see it**
   (:mod:`irs.broker.envelope`). One that is not an IRS message is
   dead-lettered at once from a task queue, with its reason in the
   ``irs-reason`` attribute, or dropped from a control or event queue; the
   rest of its receive batch goes on as usual, and nothing it holds can raise
   inside the consumer.
1. **A rejected message goes straight to the dead-letter queue.** kombu leaves a
   message rejected without requeue on a queue with a redrive policy, so SQS
   dead-letters it only after ``maxReceiveCount`` more visibility timeouts
   (minutes). A message Celery rejects is poison (not a task, unknown task,
   undecodable body, or a task that failed for good), so it is copied to the
   queue's dead-letter queue at once, with the reason, and deleted.
2. **A requeued message is visible again at once.** kombu hides a message it
   requeues (a worker child killed mid-task) for ``wait_time_seconds``; here
   it is released immediately so another process takes it.

3. **Acks share requests.** A worker's acks (DeleteMessage) wait up to
   ``ACK_WINDOW`` seconds to go out together in one DeleteMessageBatch. An ack
   lost in that window (the worker killed) means one redelivery, whose result
   document is refused by the conditional write: the first answer stays, never a second document.
4. **Publishing can share requests too.** Inside ``channel.batched_sends()``
   messages are sent ten to a SendMessageBatch when the block ends; ``irs
   classify`` submits many images this way, and a job each page it lists, up
   to SEND_THREADS requests at a time.

5. **Under load, receives come ten at a time.** kombu receives whenever a
   prefetch slot is free, so a busy worker asks SQS for one message per task
   it finishes. Here a worker holds up to ``PREFETCH_MULTIPLIER`` messages per
   process and receives only once none of those it holds is waiting for a
   process (:func:`receive_now`): a deep queue is read up to ten at a time, an
   idle worker still receives at once, and no message waits in a worker for
   longer than one task (the visibility timeout allows for it).
   **Interactive requests first**: the jobs queue (:data:`irs.pools.JOBS`)
   is received from only while the worker holds no other request and its
   last receive from the others came back with fewer than it asked for (it
   emptied them), so a job fills the processes interactive requests leave
   idle, and an interactive request waits behind at most the job requests
   already held.
6. **An outage is ridden out, not fatal.** kombu raises a bare ``Exception``
   in the event loop for a ReceiveMessage answered with an error status
   (throttling: the worker stops, "Unrecoverable error"), and hands on a list
   for a 5xx or a connection that failed (``'list' object has no attribute
   'get'``: the same end). Here a failed receive is logged once per outage and
   polled again after a backoff with jitter, until SQS answers; acks that fail
   for a transient reason are kept and sent again, so messages received before
   an outage are acknowledged once it ends instead of coming back.

Selected by ``broker_transport`` in :mod:`irs.celeryconfig`; the broker URL
stays a plain ``sqs://`` URL.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from kombu.asynchronous.aws.sqs.connection import AsyncSQSConnection
from kombu.asynchronous.aws.sqs.message import AsyncMessage
from kombu.exceptions import ChannelError
from kombu.transport import SQS
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps
from vine import promise

from irs import metrics
from irs.aws.clients import AWS_ERRORS, AWS_OR_NETWORK_ERRORS, backoff, patiently, transient
from irs.aws.queues import SQS_BATCH, SQS_MAX_MESSAGE_BYTES, message_attribute_bytes
from irs.broker import backend, envelope
from irs.pools import JOBS
from irs.settings import PREFETCH_MULTIPLIER, get_settings

logger = logging.getLogger(__name__)
ACK_WINDOW = 0.2  # seconds an ack may wait for others to share its DeleteMessageBatch
SEND_THREADS = 8  # SendMessageBatch requests in flight at once when many messages go out together


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), SQS_BATCH):
        yield items[start: start + SQS_BATCH]


def dead_letter_copy(body: str, source_url: str, reason: str) -> tuple[str, dict[str, Any]]:
    """The body and attributes of a message's dead-letter copy, within SQS's message size together.

    A message may already fill the limit, so the copy's body is cut where the reason would not fit; the
    attribute ``irs-body-bytes`` then says how long the original was.
    """
    attributes = {"irs-source-queue": {"DataType": "String", "StringValue": source_url[:1000]},
                  "irs-reason": {"DataType": "String", "StringValue": reason[:1000]}}
    encoded = body.encode()
    room = SQS_MAX_MESSAGE_BYTES - message_attribute_bytes(attributes)
    if len(encoded) > room:
        attributes["irs-body-bytes"] = {"DataType": "Number", "StringValue": str(len(encoded))}
        room = SQS_MAX_MESSAGE_BYTES - message_attribute_bytes(attributes)
        body = encoded[:room].decode(errors="ignore")  # never half a character
    return body, attributes


def given_up(receives: int) -> str:
    """Why a request received ``receives`` times without an answer is dead-lettered: each worker that ran it
    stopped before it finished."""
    return (f"received {receives} times and never answered: each worker that ran it stopped before it finished "
            "(killed, out of memory, or a crash); the image may be what kills them")


def receive_now(free: int, processes: int | None, background: bool = False, foreground_held: int = 0,
                foreground_drained: bool = True) -> bool:
    """Whether a consumer with ``free`` prefetch slots, feeding ``processes`` processes, receives now: once every
    message it holds is running, none waiting (``free >= processes``, since it holds up to PREFETCH_MULTIPLIER
    per process). Counting free slots leaves out messages held for a later time (a retry's countdown): Celery
    raises the prefetch by one for each. With no prefetch limit (``processes`` None) it always receives.

    A ``background`` queue (the jobs') is received from only while the consumer holds none of the other
    queues' messages (``foreground_held``) and its last receive from them emptied them (``foreground_drained``):
    interactive requests first."""
    if background and (foreground_held or not foreground_drained):
        return False
    return processes is None or free >= processes


@dataclass(frozen=True)
class ReceiveFailed:
    """What a ReceiveMessage that got no usable answer yields, instead of raising in the event loop."""

    reason: str


class Receiver(AsyncSQSConnection):
    """kombu's asynchronous SQS client, except that a failed ReceiveMessage yields :class:`ReceiveFailed`."""

    def _on_list_ready(self, parent: Any, markers: Any, operation: str, response: Any) -> Any:
        if response.status != self.STATUS_CODE_OK:
            body = bytes_to_str(response.read() or b"")[:200]
            return ReceiveFailed(f"HTTP {response.status} {response.reason} {body}".strip())
        try:
            return super()._on_list_ready(parent, markers, operation, response)
        except Exception as error:  # noqa: BLE001 - an answer botocore cannot parse is one more failed receive
            return ReceiveFailed(f"an answer that could not be read: {error}")


class Channel(SQS.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dead_letter_urls: dict[str, str | None] = {}
        self._acks: defaultdict[tuple[str, str | None], list[str]] = defaultdict(list)
        self._ack_flush_due = False
        self._sends: list[tuple[str, dict[str, Any]]] | None = None
        self.receiving = 0  # receives in flight; a draining worker waits for them (irs.worker.lifecycle)
        self._failed_receives: defaultdict[str, int] = defaultdict(int)  # by queue, in a row
        self._outage_since: float | None = None
        self.processes: int | None = None  # the worker processes this channel feeds, once Celery sets its prefetch
        self._drained: dict[str, bool] = {}  # by queue: its last receive got fewer messages than it asked for

    def asynsqs(self, queue: str | None = None) -> Any:
        """kombu's asynchronous client, as :class:`Receiver` (IRS predefines no queues)."""
        if self._asynsqs is None:
            attributes = self.get_message_attributes
            receiver: Any = Receiver(
                sqs_connection=self.sqs(queue=queue), region=self.region,
                message_system_attribute_names=attributes.get("MessageSystemAttributeNames"),
                message_attribute_names=attributes.get("MessageAttributeNames"))
            self._asynsqs = receiver
        return self._asynsqs

    def _get_from_sqs(self, queue_name: str, queue_url: str, connection: Any, count: int = 1,
                      callback: Any = None) -> Any:
        self.receiving += 1
        return super()._get_from_sqs(queue_name, queue_url, connection, count=count,
                                     callback=promise(self._received, (queue_name, callback, time.monotonic(), count)))

    def _received(self, queue: str, callback: Any, sent: float, asked: int, response: Any) -> None:
        """Hand a receive's messages on; after a failed one, hand on none, after a backoff."""
        self.receiving -= 1
        if isinstance(response, dict):
            self._drained[queue] = len(response.get("Messages") or ()) < asked
            if self._outage_since is not None and sent > self._outage_since:  # not a poll from before it
                logger.warning("SQS answers again, after %.1f s", time.monotonic() - self._outage_since)
                self._outage_since = None
            self._failed_receives.pop(queue, None)
            callback(response)
            return
        reason = response.reason if isinstance(response, ReceiveFailed) else f"an unexpected answer: {response!r}"
        self._trouble(f"a receive failed: {reason}")
        self._failed_receives[queue] += 1
        if self.hub is None:
            callback({})
        else:
            self.hub.call_later(backoff(self._failed_receives[queue]), callback, {})

    def _trouble(self, what: str) -> None:
        """Log the first sign of an outage; the rest of it is quiet until SQS answers a receive sent after it
        began."""
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            logger.warning("SQS out of reach (%s); receiving and acknowledging again with backoff until it answers",
                           what[:300])

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0, apply_global: bool = False) -> None:
        """kombu's; the first prefetch Celery sets is its processes x PREFETCH_MULTIPLIER, which tells how many
        processes this channel feeds (later changes are a countdown's messages, held for later)."""
        if self.processes is None and prefetch_count:
            self.processes = max(1, prefetch_count // PREFETCH_MULTIPLIER)
        super().basic_qos(prefetch_size, prefetch_count, apply_global)

    def _schedule_queue(self, queue: str) -> None:
        """kombu's, except that a worker whose processes still have work waiting looks again after the next event
        on its loop (a task finished) instead of receiving for the one slot just freed."""
        limited = bool(self.qos.prefetch_count)
        free = self.qos.can_consume_max_estimate() or 0
        background = queue == JOBS
        held, drained = self._foreground() if background else (0, True)
        if queue in self._active_queues and not receive_now(free, self.processes if limited else None,
                                                             background, held, drained):
            self._loop1(queue)
        else:
            super()._schedule_queue(queue)

    def _foreground(self) -> tuple[int, bool]:
        """Messages this consumer holds from queues other than the jobs', and whether its last receive from each
        of those emptied it."""
        qos = self.qos  # kombu keeps what is held nowhere else; an acked message stays there until flushed
        held = sum(1 for tag, message in qos._delivered.items()  # noqa: SLF001
                   if tag not in qos._dirty and message.delivery_info.get("routing_key") != JOBS)  # noqa: SLF001
        others = {self.canonical_queue_name(q) for q in self._active_queues} - {self.canonical_queue_name(JOBS)}
        return held, all(self._drained.get(name, False) for name in others)

    def _loop1(self, queue: str, messages_fetched: int | None = None) -> None:
        if self.connection is not None:  # a receive that returns after the channel closed polls no more
            super()._loop1(queue, messages_fetched)

    # -- admission: only IRS's own messages reach kombu and Celery -------------------------------
    def _on_messages_ready(self, queue: str, qname: str, messages: dict[str, Any]) -> Any:
        if messages.get("Messages"):
            messages = {**messages, "Messages": self._admitted(qname, queue, messages["Messages"])}
        return super()._on_messages_ready(queue, qname, messages)

    def _messages_to_python(self, messages: list[dict[str, Any]], queue: str) -> list[Any]:
        result: list[Any] = super()._messages_to_python(
            self._admitted(queue, self._new_queue(queue), messages), queue)
        return result

    def _admitted(self, queue: str, queue_url: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages that may be delivered; each of the others is dead-lettered (and its request answered) or
        dropped, with its reason."""
        kept = []
        for message in messages:
            text = self._text(message)
            reason = self._refusal(queue, text, int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)))
            if reason is None:
                kept.append(message)
            elif queue in self._noack_queues:  # control and event queues: nobody wants it back
                logger.warning("dropped a message on %s: %s", queue, reason)
                metrics.record_refused("dropped")
                try:
                    self.sqs(queue=queue).delete_message(QueueUrl=queue_url,
                                                         ReceiptHandle=message.get("ReceiptHandle", ""))
                except AWS_ERRORS as error:  # it comes back after its visibility timeout, and is dropped again
                    logger.warning("could not drop a message on %s: %s", queue, error)
            else:
                logger.warning("dead-lettered a message from %s: %s", queue, reason)
                metrics.record_refused("dead_lettered")
                self._dead_letter(queue, queue_url, message, reason, text)
        return kept

    def _text(self, message: dict[str, Any]) -> str | None:
        """A message's kombu envelope as text, decoded as kombu decodes it; None when it is not text."""
        try:
            return bytes_to_str(self._decode_python_message_body(message["Body"]))
        except (KeyError, TypeError, ValueError):  # no body; not text (binascii.Error is a ValueError)
            return None

    def _refusal(self, queue: str, text: str | None, receives: int) -> str | None:
        if text is None:
            return "not UTF-8 text"
        task_queue, settings = queue not in self._noack_queues, get_settings()
        reason = envelope.refusal(text, task_queue=task_queue, time_limit_s=settings.task_time_limit)
        if reason is None and task_queue and receives > settings.max_receives:
            return given_up(receives - 1)
        return reason

    # -- acks -----------------------------------------------------------------------------
    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        try:
            info = self.qos.get(delivery_tag).delivery_info
            receipt, queue_url = info["sqs_message"]["ReceiptHandle"], info["sqs_queue"]
        except KeyError:
            info = None
        if info is None or self.hub is None:  # no event loop to flush from later: ack now
            super().basic_ack(delivery_tag, multiple)
            return
        queue = self.canonical_queue_name(info["routing_key"]) if "routing_key" in info else None
        self._acks[(queue_url, queue)].append(receipt)
        super(SQS.Channel, self).basic_ack(delivery_tag)  # free the prefetch slot now
        if len(self._acks[(queue_url, queue)]) >= SQS_BATCH:
            self._flush_acks()
        elif not self._ack_flush_due:
            self._ack_flush_due = True
            self.hub.call_later(ACK_WINDOW, self._flush_acks)

    def _flush_acks(self, closing: bool = False) -> None:
        """Send the acks waiting; those that fail for a transient reason wait and are sent again (not while
        closing). Any other failure means the message comes back after its visibility timeout and is answered
        again (its document is written once)."""
        self._ack_flush_due = False
        pending, self._acks = self._acks, defaultdict(list)
        for (queue_url, queue), receipts in pending.items():
            client = self.sqs(queue=queue)
            for chunk in _chunks(receipts):
                try:
                    response = client.delete_message_batch(
                        QueueUrl=queue_url,
                        Entries=[{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(chunk)])
                    failed = response.get("Failed", [])
                except AWS_ERRORS as error:
                    if transient(error) and not closing and self.hub is not None:
                        self._trouble(f"{len(chunk)} ack(s) on {queue_url} wait: {error}")
                        self._acks[(queue_url, queue)].extend(chunk)
                        continue
                    failed = [{"Message": str(error)}] * len(chunk)
                if failed:
                    logger.warning("%d ack(s) on %s failed and will be redelivered: %s",
                                   len(failed), queue_url, failed[0].get("Message"))
        if self._acks and not self._ack_flush_due and self.hub is not None:
            self._ack_flush_due = True
            self.hub.call_later(max(ACK_WINDOW, backoff(3)), self._flush_acks)

    def close(self) -> None:
        self._flush_acks(closing=True)
        super().close()

    # -- publishing ---------------------------------------------------------------------------
    @contextmanager
    def batched_sends(self, deadline: float | None = None) -> Iterator[None]:
        """Hold the messages published inside the block, then send them ten per request; a send that fails for
        a transient reason is tried again, with the same messages, until ``deadline`` (``time.monotonic()``)."""
        self._sends = []
        try:
            yield
        finally:
            sends, self._sends = self._sends, None
            self._flush_sends(sends, time.monotonic() if deadline is None else deadline)

    def _flush_sends(self, sends: list[tuple[str, dict[str, Any]]], deadline: float) -> None:
        by_queue: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for queue, message in sends:
            by_queue[queue].append(message)
        batches = []
        for queue, messages in by_queue.items():
            client = self.sqs(queue=self.canonical_queue_name(queue))
            url = self._new_queue(queue)
            for chunk in _chunks(messages):
                entries = [self._batch_entry(str(n), m) for n, m in enumerate(chunk)]
                batches.append(partial(patiently, partial(self._send_batch, client, url, queue, entries, deadline),
                                       deadline, f"sending to {queue}"))
        if len(batches) <= 1:
            for batch in batches:
                batch()
            return
        with ThreadPoolExecutor(min(SEND_THREADS, len(batches))) as senders:  # a send is mostly waiting
            for sent in [senders.submit(batch) for batch in batches]:
                sent.result()

    @staticmethod
    def _send_batch(client: Any, url: str, queue: str, entries: list[dict[str, Any]], deadline: float) -> None:
        """Send ``entries``; those SQS turns away for its own reasons are sent again until ``deadline``
        (botocore's retries leave them: the request as a whole succeeded)."""
        while entries:
            failed = client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
            refused = [f for f in failed if f.get("SenderFault")]
            if refused or (failed and time.monotonic() >= deadline):
                given_up = refused or failed
                raise ChannelError(f"SQS refused {len(given_up)} message(s) on {queue}: "
                                   f"{given_up[0].get('Message')}")
            again = {f["Id"] for f in failed}
            entries = [e for e in entries if e["Id"] in again]
            if entries:
                time.sleep(backoff(1))

    def _batch_entry(self, entry_id: str, message: dict[str, Any]) -> dict[str, Any]:
        """What kombu's ``_put`` would send for this message, as a batch entry."""
        entry: dict[str, Any] = {"Id": entry_id}
        properties = message.get("properties", {})
        if "message_attributes" in properties:
            entry["MessageAttributes"] = properties.pop("message_attributes")
        delay = self._resolve_delay_seconds(properties)
        if delay is not None:
            entry["DelaySeconds"] = delay
        body = dumps(message)
        entry["MessageBody"] = AsyncMessage().encode(body) if self.sqs_base64_encoding else body
        return entry

    def _delete_rejected_message(self, delivery_tag: str) -> None:
        try:
            message = self.qos.get(delivery_tag)
            info = message.delivery_info
            raw = info["sqs_message"]
            queue_url = info["sqs_queue"]
        except KeyError:
            return
        queue = self.canonical_queue_name(info["routing_key"]) if "routing_key" in info else None
        if not self._dead_letter(queue, queue_url, raw, "rejected by the worker", self._text(raw)):
            super()._delete_rejected_message(delivery_tag)

    def _dead_letter(self, queue: str | None, queue_url: str, raw: dict[str, Any], reason: str,
                     text: str | None) -> bool:
        """Answer the request the message names (if it names one as IRS does), then copy the message to its
        queue's dead-letter queue with the reason and delete it; False if the queue has none. Left in place when
        SQS refuses: its redrive policy still dead-letters it later."""
        client = self.sqs(queue=queue)
        dead_letter_url = self._dead_letter_url(client, queue_url)
        if dead_letter_url is None:
            return False
        task_id = envelope.request_id(text) if text is not None else None
        if task_id is not None:
            try:
                backend.answer_dead_letter(task_id, reason, envelope.owner_named(text or ""))
            except AWS_OR_NETWORK_ERRORS as error:  # the copy keeps the id; the caller waits out its timeout
                logger.warning("could not answer the dead-lettered request %s: %s", task_id[:300], error)
        body, attributes = dead_letter_copy(str(raw.get("Body") or "(empty)"), queue_url, reason)
        try:
            client.send_message(QueueUrl=dead_letter_url, MessageBody=body, MessageAttributes=attributes)
            client.delete_message(QueueUrl=queue_url, ReceiptHandle=raw["ReceiptHandle"])
        except AWS_ERRORS as error:
            logger.warning("could not dead-letter a message from %s: %s", queue_url, error)
        return True

    def _dead_letter_url(self, client: Any, queue_url: str) -> str | None:
        cache = self._dead_letter_urls
        if queue_url not in cache:
            try:
                attributes = client.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
                policy = json.loads(attributes["RedrivePolicy"])
                name = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
                cache[queue_url] = client.get_queue_url(QueueName=name)["QueueUrl"]
            except (KeyError, ValueError):
                cache[queue_url] = None
            except AWS_ERRORS:
                cache[queue_url] = None
        return cache[queue_url]

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        if message.get("redelivered"):
            self.sqs(queue=self.canonical_queue_name(queue)).change_message_visibility(
                QueueUrl=self._new_queue(queue),
                ReceiptHandle=message["properties"]["delivery_tag"],
                VisibilityTimeout=0,
            )
        elif self._sends is not None and not queue.endswith(".fifo"):
            self._sends.append((queue, message))
        else:
            super()._put(queue, message, **kwargs)


class Transport(SQS.Transport):
    Channel = Channel
