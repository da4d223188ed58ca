"""A receive that fails yields a typed failure, never an exception in the worker's event loop.

kombu raises a bare Exception for a ReceiveMessage answered with an error
status, and hands on a list for a 5xx or a failed connection; either stopped
the worker ("Unrecoverable error"). The end-to-end proof is tests/faults/.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from irs.broker.transport import ReceiveFailed, Receiver


def response(status: int, body: bytes = b"", reason: str = "") -> Any:
    return SimpleNamespace(status=status, reason=reason, read=lambda: body,
                           response=SimpleNamespace(body=body, headers={}, code=status))


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return Receiver(sqs_connection=sqs, region="us-east-1", http_client=SimpleNamespace())  # never called here


@pytest.mark.parametrize(("answer", "says"), [
    (response(599, reason="Failed to connect to 127.0.0.1 port 1"), "HTTP 599 Failed to connect"),
    (response(503, b"<Error><Code>ServiceUnavailable</Code></Error>"), "HTTP 503"),
    (response(400, b'{"__type":"com.amazonaws.sqs#ThrottlingException"}'), "ThrottlingException"),
    (response(500), "HTTP 500"),
    (response(200, b"\x00 not an SQS answer \xff"), "could not be read"),
], ids=["no connection", "503", "throttled", "500 with no body", "garbage"])
def test_a_failed_receive_yields_a_receive_failed_with_its_reason(receiver: Receiver, answer: Any, says: str) -> None:
    result = receiver._on_list_ready("cloud", [], "ReceiveMessage", answer)
    assert isinstance(result, ReceiveFailed) and says in result.reason
