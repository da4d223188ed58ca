"""A batch of sends: entries SQS turns away for its own reasons are sent again, but never past the deadline."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kombu.exceptions import ChannelError

from irs.broker.transport import Channel

ENTRIES = [{"Id": "0", "MessageBody": "a"}, {"Id": "1", "MessageBody": "b"}]


class FlakySqs:
    """Fails entry "1" (not the sender's fault) the first ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures, self.sent = failures, []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        failed = []
        for entry in Entries:
            if entry["Id"] == "1" and self.failures > 0:
                self.failures -= 1
                failed.append({"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"})
            else:
                self.sent.append(entry["Id"])
        return {"Failed": failed}


def test_an_entry_sqs_failed_is_sent_again_and_only_it() -> None:
    sqs = FlakySqs(failures=2)
    Channel._send_batch(sqs, "url", "cloud", list(ENTRIES), time.monotonic() + 30)
    assert sqs.sent == ["0", "1"]


def test_an_entry_that_keeps_failing_is_given_up_at_the_deadline() -> None:
    sqs = FlakySqs(failures=10**9)
    with pytest.raises(ChannelError, match="try again"):
        Channel._send_batch(sqs, "url", "cloud", list(ENTRIES), time.monotonic() + 0.3)
    assert sqs.sent == ["0"]


def test_an_entry_refused_for_the_senders_fault_is_not_sent_again() -> None:
    class Refusing:
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            return {"Failed": [{"Id": "0", "SenderFault": True, "Message": "too big"}]}

    with pytest.raises(ChannelError, match="too big"):
        Channel._send_batch(Refusing(), "url", "cloud", list(ENTRIES), time.monotonic() + 30)
