"""Which AWS errors pass by themselves, and how a client rides them out."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, NoCredentialsError

from irs.aws.clients import patiently, transient


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "PutObject")


@pytest.mark.parametrize("error", [
    client_error("SlowDown", 503), client_error("InternalError", 500), client_error("ServiceUnavailable", 503),
    client_error("ThrottlingException", 400), client_error("RequestThrottled", 403),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), ConnectionClosedError(endpoint_url="x"),
    ConnectionRefusedError(), ConnectionResetError(),
], ids=repr)
def test_trouble_that_passes_is_transient(error: Exception) -> None:
    assert transient(error)


@pytest.mark.parametrize("error", [
    client_error("AccessDenied", 403), client_error("NoSuchKey", 404), client_error("NoSuchBucket", 404),
    client_error("PreconditionFailed", 412), NoCredentialsError(), ValueError("not AWS"),
], ids=repr)
def test_a_permanent_error_is_not(error: Exception) -> None:
    assert not transient(error)


def test_patiently_tries_again_after_transient_errors_until_the_call_answers() -> None:
    answers: list[Exception | str] = [client_error("SlowDown", 503), ConnectionResetError(), "done"]

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert patiently(call, time.monotonic() + 30, "a test call") == "done" and not answers


def test_patiently_raises_a_permanent_error_at_once() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise client_error("AccessDenied", 403)

    with pytest.raises(ClientError, match="AccessDenied"):
        patiently(call, time.monotonic() + 30, "a test call")
    assert len(calls) == 1


def test_patiently_gives_up_at_its_deadline() -> None:
    def call() -> None:
        raise client_error("SlowDown", 503)

    with pytest.raises(ClientError, match="SlowDown"):
        patiently(call, time.monotonic() + 0.5, "a test call")
