"""boto3 clients, made one way for every part of IRS, and the errors they raise.

The same code talks to AWS and to the local emulator: only ``IRS_ENDPOINT_URL``
differs. Clients are cached per process and thread-safe, as boto3 clients are.

Retrying is configured here once, for every boto3 client IRS makes (kombu's
SQS clients too, through ``client-config``): botocore's standard mode retries
a throttled, failed (5xx) or cut-off call a few times within seconds. An
outage longer than that is ridden out one level up, by :func:`patiently` in
the clients and by the transport's own backoff in the workers; both tell a
transient error from a permanent one with :func:`transient`, which asks
botocore's own retry rules.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from functools import cache
from types import SimpleNamespace
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

from irs.settings import get_settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: What a call to AWS raises when AWS (or the network to it) says no: catch these, not Exception.
AWS_ERRORS = (ClientError, BotoCoreError)
#: The same, plus the socket errors of a network that is down (what a background loop outlives).
AWS_OR_NETWORK_ERRORS = (ClientError, BotoCoreError, OSError)

#: botocore's settings for every client IRS makes (as keyword arguments of botocore.config.Config).
CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 5},
    "connect_timeout": 5,
    "read_timeout": 30,  # above the longest long poll (20 s)
    "max_pool_connections": 32,
}
#: Backoff between attempts of a call that outlives botocore's own retries: full jitter, doubling up to this.
BACKOFF_MAX_S = 5.0
_CHECKERS = (TransientRetryableChecker(), ThrottledRetryableChecker())


def use_emulator_credentials() -> None:
    """An emulator takes any credentials; give boto3 some so it never looks elsewhere."""
    if get_settings().endpoint_url:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


def error_code(error: Exception) -> str:
    """The AWS error code of a ClientError ("NoSuchKey", "AccessDenied", ...); "" for anything else."""
    return str(error.response.get("Error", {}).get("Code", "")) if isinstance(error, ClientError) else ""


def transient(error: BaseException) -> bool:
    """Whether ``error`` may go away by itself (a network that is down, a reset, a 5xx, throttling), by
    botocore's own retry rules; a permanent error (access denied, no such bucket) is not."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        context = RetryContext(1, parsed_response=error.response,
                               http_response=SimpleNamespace(status_code=status))
    elif isinstance(error, BotoCoreError | OSError):
        context = RetryContext(1, caught_exception=error)  # type: ignore[arg-type]
    else:
        return False
    return isinstance(error, OSError) or any(checker.is_retryable(context) for checker in _CHECKERS)


def backoff(attempt: int, cap: float = BACKOFF_MAX_S) -> float:
    """Seconds to wait before attempt ``attempt`` + 1 (full jitter: spread out, so many clients don't
    come back at once)."""
    return random.uniform(0, min(cap, 0.25 * 2 ** attempt))


def patiently(call: Callable[[], T], deadline: float, what: str) -> T:
    """``call()``, tried again after transient errors until ``deadline`` (``time.monotonic()``), with backoff;
    the trouble is logged once. A permanent error, or a transient one at the deadline, is raised."""
    attempt, since = 0, time.monotonic()
    while True:
        try:
            result = call()
        except AWS_OR_NETWORK_ERRORS as error:
            delay = backoff(attempt)
            if not transient(error) or time.monotonic() + delay > deadline:
                raise
            if attempt == 0:
                logger.warning("%s: %s; trying again until it answers", what, error)
            attempt += 1
            time.sleep(delay)
            continue
        if attempt:
            logger.warning("%s: answered after %.1f s and %d attempt(s)", what, time.monotonic() - since, attempt + 1)
        return result


@cache
def _session() -> boto3.session.Session:
    """The process's one boto3 session: its clients share the service descriptions it loads (a session per
    client loaded them again for each, about 5 MB of memory per client in every worker process)."""
    use_emulator_credentials()
    return boto3.session.Session()


_creating = threading.Lock()  # a session is not thread-safe while it makes a client; the clients it makes are


@cache
def client(service: str) -> Any:
    """A boto3 client for ``service`` pointed at the configured endpoint."""
    settings = get_settings()
    with _creating:
        return _session().client(service, region_name=settings.region, endpoint_url=settings.endpoint_url,
                                 config=Config(**CLIENT_CONFIG))


def forget() -> None:
    """Drop the session and its clients: credentials and endpoints read for one environment must not serve
    another (eager tests switch environments in one process)."""
    client.cache_clear()
    _session.cache_clear()
