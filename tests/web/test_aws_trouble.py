"""AWS out of reach after the retries: the API answers 503 with Retry-After, not a bare 500."""

from __future__ import annotations

import asyncio
import json

from botocore.exceptions import ClientError, EndpointConnectionError
from starlette.requests import Request

from webapp.problems import aws_trouble

REQUEST = Request({"type": "http", "method": "POST", "path": "/api/v1/images", "headers": [], "query_string": b""})


def test_a_transient_aws_error_is_a_503_with_retry_after() -> None:
    response = asyncio.run(aws_trouble(REQUEST, EndpointConnectionError(endpoint_url="http://127.0.0.1:1")))
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert "out of reach" in json.loads(response.body)["detail"]


def test_a_permanent_aws_error_is_a_500_that_does_not_leak_the_aws_message() -> None:
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "arn:aws:iam::123:role/secret is not allowed"},
                         "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")
    response = asyncio.run(aws_trouble(REQUEST, error))
    assert response.status_code == 500 and "arn:aws" not in response.body.decode()
