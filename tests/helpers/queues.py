"""Reading a queue to its end, as a test checks what landed there."""

from __future__ import annotations

from typing import Any

from irs.aws import clients


def drain(url: str) -> list[dict[str, Any]]:
    """Every message waiting on the queue at ``url``, with its attributes, each deleted once read."""
    sqs, got = clients.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"]).get("Messages", []):
        got.extend(batch)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)])
    return got
