"""A dead-letter copy keeps its reason and fits SQS's message limit, whatever the message it copies."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from irs.aws.queues import SQS_MAX_MESSAGE_BYTES, message_bytes
from irs.broker.transport import dead_letter_copy

SOURCE = "http://127.0.0.1:5000/123456789012/irs-cloud"


def test_a_small_message_is_copied_whole_with_its_reason() -> None:
    body, attributes = dead_letter_copy("not json", SOURCE, "not JSON (Expecting value)")
    assert body == "not json"
    assert attributes["irs-reason"]["StringValue"] == "not JSON (Expecting value)"
    assert "irs-body-bytes" not in attributes


@given(size=st.integers(SQS_MAX_MESSAGE_BYTES - 1000, SQS_MAX_MESSAGE_BYTES), char=st.sampled_from("xé€😀"))
@settings(max_examples=30, deadline=None)
def test_a_message_at_the_limit_is_cut_to_fit_and_says_how_long_it_was(size: int, char: str) -> None:
    original = (char * size).encode()[:size].decode(errors="ignore")
    body, attributes = dead_letter_copy(original, SOURCE, "r" * 5000)
    assert message_bytes(body, attributes) <= SQS_MAX_MESSAGE_BYTES
    assert original.startswith(body) and len(attributes["irs-reason"]["StringValue"]) == 1000
    assert int(attributes["irs-body-bytes"]["StringValue"]) == len(original.encode())
