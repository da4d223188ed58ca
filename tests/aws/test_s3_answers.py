"""S3's answers to a read, classified once: permanent ones become an error of their kind, the rest are retried."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from irs.aws import s3_answers
from irs.results import ErrorKind


def answer(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "..."}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "GetObject")


@pytest.mark.parametrize(("code", "status", "kind"), [
    ("InvalidObjectState", 403, ErrorKind.ARCHIVED),
    ("AccessDenied", 403, ErrorKind.FORBIDDEN),
    ("KMS.DisabledException", 400, ErrorKind.FORBIDDEN),
    ("KMS.AccessDeniedException", 400, ErrorKind.FORBIDDEN),
    ("NoSuchKey", 404, ErrorKind.MISSING),
    ("NoSuchBucket", 404, ErrorKind.MISSING),
])
def test_a_permanent_answer_is_an_error_of_its_kind(code: str, status: int, kind: ErrorKind) -> None:
    found = s3_answers.permanent(answer(code, status))
    assert found is not None and found.kind is kind


@pytest.mark.parametrize("error", [answer("SlowDown", 503), answer("InternalError", 500),
                                   answer("ThrottlingException", 400), answer("RequestTimeout", 400),
                                   EndpointConnectionError(endpoint_url="http://127.0.0.1:1")],
                         ids=["SlowDown", "InternalError", "Throttling", "RequestTimeout", "no connection"])
def test_a_transient_answer_is_not_permanent(error: Exception) -> None:
    assert s3_answers.permanent(error) is None


def test_an_unknown_answer_is_not_called_permanent_so_it_is_raised_and_seen() -> None:
    assert s3_answers.permanent(answer("SomethingNew", 400)) is None


def test_the_docs_table_has_a_row_for_every_permanent_answer_and_the_transient_ones() -> None:
    table = s3_answers.table()
    for code, found in s3_answers.PERMANENT.items():
        assert f"| `{code}` | permanent | `{found.kind.value}` |" in table
    assert "| transient |" in table and "| unknown |" in table
