"""A job's notices on the stack's events topic: started, finished (once), failed.

Users subscribe to the topic with SNS itself (email, a queue, an HTTPS endpoint); each notice is a JSON message
with the job's name, its counts and where its results are, and the ``event`` message attribute, so a
subscription can filter on it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from irs.aws.clients import AWS_OR_NETWORK_ERRORS, client
from irs.aws.events import topic_arn

logger = logging.getLogger(__name__)

Event = Literal["job-started", "job-finished", "job-failed"]


def publish(event: Event, job: str, **facts: Any) -> None:
    """Publish a notice; one that cannot be published is logged, and the job goes on (a notice is news of the
    job, not part of it)."""
    message = {"event": event, "job": job, **facts}
    try:
        client("sns").publish(TopicArn=topic_arn(), Subject=f"IRS {event.replace('-', ' ')}: {job}"[:100],
                              Message=json.dumps(message, default=str),
                              MessageAttributes={"event": {"DataType": "String", "StringValue": event}})
    except AWS_OR_NETWORK_ERRORS as error:
        logger.warning("could not publish %s of job %s on the events topic: %s", event, job, error)
