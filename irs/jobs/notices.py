"""A job's notices on the stack's events topic: started, finished (once), failed.

Users subscribe to the topic with SNS itself (email, a queue, an HTTPS endpoint); each notice is a JSON message
with the job's name, its counts and where its results are, and the ``event`` message attribute, so a
subscription can filter on it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from irs.aws.clients import client
from irs.aws.events import topic_arn

Event = Literal["job-started", "job-finished", "job-failed"]


def publish(event: Event, job: str, **facts: Any) -> None:
    message = {"event": event, "job": job, **facts}
    client("sns").publish(TopicArn=topic_arn(), Subject=f"IRS {event.replace('-', ' ')}: {job}"[:100],
                          Message=json.dumps(message, default=str),
                          MessageAttributes={"event": {"DataType": "String", "StringValue": event}})
