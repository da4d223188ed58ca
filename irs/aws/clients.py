"""boto3 clients, made one way for every part of IRS, and the errors they raise.

The same code talks to AWS and to the local emulator: only ``IRS_ENDPOINT_URL``
differs. Clients are cached per process and thread-safe, as boto3 clients are.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from irs.settings import get_settings

#: What a call to AWS raises when AWS (or the network to it) says no: catch these, not Exception.
AWS_ERRORS = (ClientError, BotoCoreError)
#: The same, plus the socket errors of a network that is down (what a background loop outlives).
AWS_OR_NETWORK_ERRORS = (ClientError, BotoCoreError, OSError)

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)


def use_emulator_credentials() -> None:
    """An emulator takes any credentials; give boto3 some so it never looks elsewhere."""
    if get_settings().endpoint_url:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


def error_code(error: Exception) -> str:
    """The AWS error code of a ClientError ("NoSuchKey", "AccessDenied", ...); "" for anything else."""
    return str(error.response.get("Error", {}).get("Code", "")) if isinstance(error, ClientError) else ""


@cache
def client(service: str) -> Any:
    """A boto3 client for ``service`` pointed at the configured endpoint."""
    use_emulator_credentials()
    settings = get_settings()
    return boto3.session.Session().client(
        service,
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        config=_CONFIG,
    )
