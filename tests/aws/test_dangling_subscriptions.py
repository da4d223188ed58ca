"""A subscription whose queue is gone delivers to nothing forever: the sweeps find it, and only it."""

from __future__ import annotations

from irs.aws.feeds import dangling

TOPIC = "arn:aws:sns:us-east-1:123456789012:irs-results"


def subscription(queue: str, protocol: str = "sqs", arn: str | None = None) -> dict[str, str]:
    return {"SubscriptionArn": arn or f"{TOPIC}:{queue}-sub", "Protocol": protocol,
            "Endpoint": f"arn:aws:sqs:us-east-1:123456789012:{queue}", "TopicArn": TOPIC}


def test_only_subscriptions_to_missing_queues_of_ours_are_dangling() -> None:
    subscriptions = [
        subscription("irs-feed-alive"),
        subscription("irs-feed-gone"),
        subscription("someone-elses-queue"),  # not named with our prefix: not ours to judge
        {**subscription("irs-feed-mail"), "Protocol": "email", "Endpoint": "ops@example.com"},
        subscription("irs-feed-confirming", arn="PendingConfirmation"),  # not a subscription yet
    ]
    assert dangling(subscriptions, {"irs-feed-alive"}, "irs-feed-") == [f"{TOPIC}:irs-feed-gone-sub"]


def test_nothing_is_dangling_when_every_queue_exists() -> None:
    assert dangling([subscription("irs-feed-a"), subscription("irs-feed-b")], {"irs-feed-a", "irs-feed-b"},
                    "irs-feed-") == []
