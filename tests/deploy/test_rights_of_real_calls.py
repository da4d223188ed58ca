"""The calls a component really makes are allowed by its role in the template.

Each test runs the component's real code path against the in-process mock,
records every AWS call it makes (operation and target), and checks that its
role's statements allow each one. The emulator enforces no IAM here: this is
the template read against real calls, not an evaluator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from irs.aws import clients
from irs.deploy.template import _queue, autoscaler_statements
from irs.pools import CLOUD, EDGE, POOLS
from irs.settings import get_settings

Call = tuple[str, str, str]  # (service, operation, queue pool or "")
IAM_ACTION = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility", "ListObjectsV2": "ListBucket"}


@pytest.fixture
def calls(mocked_aws: None) -> Iterator[list[Call]]:
    recorded: list[Call] = []
    prefix = get_settings().queue_prefix

    def record(event_name: str, params: dict[str, Any], **_: Any) -> None:
        service, operation = event_name.split(".")[1:3]
        queue = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1].removeprefix(prefix)
        recorded.append((service, operation, queue if queue in POOLS else ""))

    for service in ("sqs", "s3"):
        clients.client(service).meta.events.register("provide-client-params.*.*", record)
    yield recorded
    for service in ("sqs", "s3"):
        clients.client(service).meta.events.unregister("provide-client-params.*.*", record)


def allowed(statements: list[dict[str, Any]], call: Call) -> bool:
    service, operation, pool = call
    # IAM names some operations otherwise: a batch needs the single message's right, a listing s3:ListBucket.
    action = f"{service}:{IAM_ACTION.get(operation, operation)}"
    for statement in statements:
        if statement.get("Effect", "Allow") != "Allow" or action not in statement["Action"]:
            continue
        if not pool or statement["Resource"] == "*" or \
                {"Fn::GetAtt": [_queue(pool), "Arn"]} in statement["Resource"]:
            return True
    return False


def test_the_autoscaler_may_make_every_call_of_the_rebalancing(calls: list[Call]) -> None:
    from irs.janitor.rebalance import Rebalancer

    sqs, settings = clients.client("sqs"), get_settings()
    edge = sqs.get_queue_url(QueueName=f"{settings.queue_prefix}{EDGE}")["QueueUrl"]
    sqs.send_message(QueueUrl=edge, MessageBody=json.dumps({"stranded": True}))
    calls.clear()
    assert Rebalancer(silent_s=0).turn() == 1  # no edge worker lives: it moves the request
    made = set(calls)
    assert (("sqs", "ReceiveMessage", EDGE) in made and ("sqs", "SendMessageBatch", CLOUD) in made
            and ("sqs", "DeleteMessageBatch", EDGE) in made), made
    statements = autoscaler_statements()
    refused = sorted(call for call in made if not allowed(statements, call))
    assert not refused, f"the autoscaler's role does not allow: {refused}"
