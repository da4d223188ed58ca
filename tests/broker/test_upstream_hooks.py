"""Every private kombu and Celery hook IRS overrides or calls still exists with the signature IRS expects.

IRS subclasses kombu's SQS channel, Celery's key-value result backend and its
worker request (:mod:`irs.broker`, :mod:`irs.worker.lifecycle`). ``celery`` and
``kombu`` are capped below their next minor release in pyproject.toml; this test
is what says what to check when the cap is raised: it fails, naming the hook,
when an upgrade renames or reshapes one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from celery.backends.base import KeyValueStoreBackend
from celery.events import event
from celery.worker import state
from celery.worker.request import Request
from kombu.asynchronous.aws.sqs.connection import AsyncSQSConnection
from kombu.transport import SQS

# (owner, name, the parameter names IRS relies on, in order; "self" left out)
HOOKS: list[tuple[object, str, tuple[str, ...]]] = [
    # irs.broker.transport
    (SQS.Channel, "_get_from_sqs", ("queue_name", "queue_url", "connection", "count", "callback")),
    (SQS.Channel, "_delete_rejected_message", ("delivery_tag",)),
    (SQS.Channel, "_put", ("queue", "message", "kwargs")),
    (SQS.Channel, "_new_queue", ("queue", "kwargs")),
    (SQS.Channel, "_resolve_delay_seconds", ("properties",)),
    (SQS.Channel, "basic_ack", ("delivery_tag", "multiple")),
    (SQS.Channel, "asynsqs", ("queue",)),
    (SQS.Channel, "_loop1", ("queue", "messages_fetched")),
    (AsyncSQSConnection, "__init__", ("sqs_connection", "debug", "region", "message_system_attribute_names",
                                      "message_attribute_names", "kwargs")),
    (AsyncSQSConnection, "_on_list_ready", ("parent", "markers", "operation", "response")),
    # irs.broker.monitoring
    (SQS.Channel, "_lookup", ("exchange", "routing_key", "default")),
    (SQS.Channel, "_delete_message", ("queue_name", "message")),
    (SQS.Channel, "_on_messages_ready", ("queue", "qname", "messages")),
    (SQS.Channel, "_messages_to_python", ("messages", "queue")),
    (SQS.Channel, "_prepare_json_payload", ("text",)),
    (SQS.Channel, "_decode_python_message_body", ("raw_body",)),
    (SQS.Channel, "_put_fanout", ("exchange", "message", "routing_key", "kwargs")),
    (SQS.Channel, "_exchange_is_fanout", ("exchange_name",)),
    (SQS.Channel, "_delete", ("queue", "exchange", "args", "kwargs")),
    (SQS.Channel, "exchange_declare", ("exchange", "type", "durable", "auto_delete", "arguments", "nowait",
                                       "passive")),
    (event, "get_exchange", ("conn", "name")),
    (SQS.Channel, "_get_bulk", ("queue", "max_if_unlimited", "callback")),
    (SQS.Channel, "_get", ("queue",)),
    # irs.broker.backend
    (KeyValueStoreBackend, "_store_result", ("task_id", "result", "state", "traceback", "request", "kwargs")),
    (KeyValueStoreBackend, "_get_task_meta_for", ("task_id",)),
    (KeyValueStoreBackend, "_get_result_meta", ("result", "state", "traceback", "request", "format_date",
                                                 "encode")),
    (KeyValueStoreBackend, "_ensure_not_eager", ()),
    (KeyValueStoreBackend, "wait_for", ("task_id", "timeout", "interval", "no_ack", "on_interval")),
    # irs.worker.lifecycle
    (Request, "on_accepted", ("pid", "time_accepted")),
    (Request, "acknowledge", ()),
]
ATTRIBUTES: list[tuple[object, str]] = [
    (SQS.Channel, "_noack_queues"),  # which queues a channel consumes without acks (monitoring)
    (SQS.Channel, "wait_time_seconds"),  # the long poll (monitoring shortens it for loop-less consumers)
    (SQS.Channel, "_asynsqs"), (AsyncSQSConnection, "STATUS_CODE_OK"),  # the transport's receiver
    (state, "active_requests"), (state, "reserved_requests"), (state, "all_total_count"),  # lifecycle
]


@pytest.mark.parametrize(("owner", "name", "expected"), HOOKS,
                         ids=[f"{getattr(o, '__name__', o)}.{n}" for o, n, _ in HOOKS])
def test_a_private_hook_irs_uses_keeps_its_signature(owner: object, name: str, expected: tuple[str, ...]) -> None:
    hook: Callable[..., object] | None = getattr(owner, name, None)
    assert hook is not None, f"{name} is gone from {owner}: IRS's override or call of it no longer works"
    parameters = [p for p in inspect.signature(hook).parameters if p != "self"]
    assert tuple(parameters) == expected, f"{owner}.{name} now takes {parameters}"


@pytest.mark.parametrize(("owner", "name"), ATTRIBUTES, ids=[n for _, n in ATTRIBUTES])
def test_a_private_attribute_irs_reads_still_exists(owner: object, name: str) -> None:
    assert hasattr(owner, name) or name in getattr(owner, "__dict__", {}), f"{name} is gone from {owner}"


def test_celery_and_kombu_are_capped_below_their_next_minor_release() -> None:
    import tomllib

    from tests.conftest import ROOT

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for name in ("celery[sqs]", "kombu"):
        (spec,) = [d for d in dependencies if d.startswith(f"{name}>=")]
        assert "<5.8" in spec, f"{spec}: cap it below the next minor release; this file lists the hooks to check"
