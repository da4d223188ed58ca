"""The events topic: where IRS publishes what users may want to hear of (jobs' starts, ends and failures,
:mod:`irs.jobs.notices`), for them to subscribe to with SNS itself."""

from __future__ import annotations

from irs.aws.clients import client
from irs.settings import get_settings


def topic_name() -> str:
    return f"{get_settings().queue_prefix}events"


def topic_arn() -> str:
    """The events topic's ARN (CreateTopic of an existing topic returns it, with a right on that topic only)."""
    arn: str = client("sns").create_topic(Name=topic_name())["TopicArn"]
    return arn
