"""kombu's SQS transport, with the two behaviours IRS needs changed.

1. **A rejected message goes straight to the dead-letter queue.** kombu leaves a
   message rejected without requeue on a queue with a redrive policy, so SQS
   dead-letters it only after ``maxReceiveCount`` more visibility timeouts
   (minutes). A message Celery rejects is poison (not a task, unknown task,
   undecodable body, or a task that failed for good), so it is copied to the
   queue's dead-letter queue at once, with the reason, and deleted.
2. **A requeued message is visible again at once.** kombu hides a message it
   requeues (a worker child killed mid-task) for ``wait_time_seconds``; here
   it is released immediately so another process takes it.

Selected by ``broker_transport`` in :mod:`irs.celeryconfig`; the broker URL
stays a plain ``sqs://`` URL.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from kombu.transport import SQS

logger = logging.getLogger(__name__)


class Channel(SQS.Channel):
    _dead_letter_urls: dict[str, str | None]

    def _delete_rejected_message(self, delivery_tag: str) -> None:
        try:
            message = self.qos.get(delivery_tag)
            info = message.delivery_info
            receipt = info["sqs_message"]["ReceiptHandle"]
            queue_url = info["sqs_queue"]
        except KeyError:
            return
        queue = self.canonical_queue_name(info["routing_key"]) if "routing_key" in info else None
        client = self.sqs(queue=queue)
        dead_letter_url = self._dead_letter_url(client, queue_url)
        if dead_letter_url is None:
            super()._delete_rejected_message(delivery_tag)
            return
        try:
            client.send_message(
                QueueUrl=dead_letter_url,
                MessageBody=info["sqs_message"]["Body"] if isinstance(info["sqs_message"].get("Body"), str)
                else json.dumps(message.body if isinstance(message.body, str) else str(message.body)),
                MessageAttributes={
                    "irs-source-queue": {"DataType": "String", "StringValue": queue_url},
                    "irs-reason": {"DataType": "String", "StringValue": "rejected by the worker"},
                },
            )
            client.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
        except (ClientError, BotoCoreError) as error:
            # Left in place, SQS's own redrive policy still dead-letters it later.
            logger.warning("could not dead-letter a rejected message from %s: %s", queue_url, error)

    def _dead_letter_url(self, client: Any, queue_url: str) -> str | None:
        cache = self.__dict__.setdefault("_dead_letter_urls", {})
        if queue_url not in cache:
            try:
                attributes = client.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
                policy = json.loads(attributes["RedrivePolicy"])
                name = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
                cache[queue_url] = client.get_queue_url(QueueName=name)["QueueUrl"]
            except (KeyError, ValueError, ClientError, BotoCoreError):
                cache[queue_url] = None
        return cache[queue_url]

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        if message.get("redelivered"):
            self.sqs(queue=self.canonical_queue_name(queue)).change_message_visibility(
                QueueUrl=self._new_queue(queue),
                ReceiptHandle=message["properties"]["delivery_tag"],
                VisibilityTimeout=0,
            )
            return
        super()._put(queue, message, **kwargs)


class Transport(SQS.Transport):
    Channel = Channel
