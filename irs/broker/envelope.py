"""What a message on an IRS queue must be before kombu and Celery see it, and why one is refused.

Anyone who may send to a queue can send anything. kombu and Celery raise on
an envelope of the wrong shape before IRS code runs, and an exception there
ends the worker ("Unrecoverable error"), again at every restart while the
message stays queued. So every message is checked here first, by its text
alone: the kombu envelope on every queue, and on a task queue the Celery task
message inside it (IRS's one task, its id, its argument, its headers). A
message that fails gets a reason a person can act on, and the transport
dead-letters it (task queues) or drops it (control and event queues).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from datetime import UTC
from typing import Any, Literal

from celery.utils.time import maybe_iso8601, maybe_make_aware
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irs.contract import (
    FILENAME,
    MAX_FILENAME,
    OWNER,
    OWNER_NAME,
    ROUTE,
    SENT_AT,
    TASK_NAME,
    UPLOAD_MS,
    BadCall,
    call_of,
    model_of,
)
from irs.contract import MODEL_REF as MODEL_REF_PATTERN
from irs.results import MAX_IMAGE_KEY_BYTES, MAX_TASK_ID_BYTES, TASK_ID_HEX, Route

MAX_HEADERS_BYTES = 16 * 1024  # a task's headers, serialised; IRS's own are well under 1 KiB
#: An image key: no control characters, not absolute, no ".." segment.
IMAGE_KEY = re.compile(r"(?!/)(?!(?:.*/)?\.\.(?:/|$))[^\x00-\x1f\x7f]+")
MODEL_REF = re.compile(MODEL_REF_PATTERN)
TASK_ID = re.compile(rf"[0-9a-f]{{{TASK_ID_HEX}}}:(?P<key>.+)", re.S)
EMBED = ("callbacks", "errbacks", "chain", "chord")  # a task body's options: Celery would run what they name


class _Bounded(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Closed(BaseModel):
    """A part of the message whose every name kombu or Celery acts on: a name IRS does not send is refused, since
    an unknown one may make them drop the message unanswered (``compression``, ``expires``, revocation stamps)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeliveryInfo(_Bounded):
    exchange: str = Field(default="", max_length=255)
    routing_key: str = Field(default="", max_length=255)


class Properties(_Closed):
    """kombu's message properties: those kombu and Celery read, and nothing else."""

    body_encoding: Literal["base64"] | None = None
    delivery_info: DeliveryInfo = Field(default_factory=DeliveryInfo)
    correlation_id: str | None = Field(default=None, max_length=1200)
    reply_to: str | None = Field(default=None, max_length=255)
    delivery_mode: int | None = Field(default=None, ge=1, le=2)
    priority: int | None = Field(default=None, ge=0, le=255)
    delivery_tag: str | None = Field(default=None, max_length=200)  # kombu replaces it with the receipt's own
    expiration: str | None = Field(default=None, pattern=r"^\d{1,15}$")  # a deadline as a TTL in ms, ignored on SQS
    origin: str | None = Field(default=None, max_length=300)  # a retry's: the worker that sent it (Celery's nodename)


class Envelope(_Bounded):
    """kombu's message: what every IRS queue carries."""

    body: str
    content_type: Literal["application/json"] = Field(alias="content-type")
    content_encoding: Literal["utf-8"] = Field(alias="content-encoding")
    headers: dict[str, Any] = Field(default_factory=dict)
    properties: Properties


class TaskHeaders(_Closed):
    """Celery's task message headers (protocol 2) as IRS's producers send them, and IRS's own.

    The headers that would make Celery revoke or drop a task, or kombu decompress its body, may only carry the
    values IRS sends (none): ``stamped_headers`` and ``stamps``, ``compression``. ``eta`` (a retry's backoff)
    and ``timelimit`` may not exceed the workers' time limit, so a task is never held or run past its visibility
    timeout. ``expires`` (a request's deadline) must be a time Celery reads: past it, the request is answered
    with an ``expired`` document (:mod:`irs.broker.backend`).
    """

    task: str = Field(max_length=200)
    id: str = Field(max_length=MAX_TASK_ID_BYTES)
    retries: int = Field(default=0, ge=0, le=1000)
    lang: Literal["py"] = "py"
    shadow: None = None
    eta: str | None = Field(default=None, max_length=64)  # a retry's backoff: ISO 8601, checked below
    expires: str | None = Field(default=None, max_length=64)  # a deadline: ISO 8601, checked below
    group: None = None
    group_index: None = None
    timelimit: tuple[float | None, float | None] = Field(default=(None, None))
    root_id: str | None = Field(default=None, max_length=MAX_TASK_ID_BYTES)
    parent_id: str | None = Field(default=None, max_length=MAX_TASK_ID_BYTES)
    argsrepr: str | None = Field(default=None, max_length=4 * MAX_IMAGE_KEY_BYTES)
    kwargsrepr: str | None = Field(default=None, max_length=4 * MAX_IMAGE_KEY_BYTES)
    origin: str | None = Field(default=None, max_length=300)
    ignore_result: Literal[False] | None = False  # None: the task's own setting (it stores its result)
    replaced_task_nesting: Literal[0] = 0
    stamped_headers: None = None
    stamps: dict[str, None] = Field(default_factory=dict, max_length=0)
    sent_at: float | None = Field(default=None, validation_alias=SENT_AT, ge=0, le=1e11, strict=True)
    upload_ms: float | None = Field(default=None, validation_alias=UPLOAD_MS, ge=0, le=3.6e6, strict=True)
    route: Route | None = Field(default=None, validation_alias=ROUTE)
    owner: str | None = Field(default=None, validation_alias=OWNER, pattern=OWNER_NAME, strict=True)
    filename: str | None = Field(default=None, validation_alias=FILENAME, min_length=1, max_length=MAX_FILENAME,
                                 pattern=r"^[^\x00-\x1f\x7f/\\]+$", strict=True)  # a name, no path


def refusal(text: str, task_queue: bool, time_limit_s: float, now: float | None = None) -> str | None:
    """Why the message ``text`` may not be delivered, or None if it may.

    ``task_queue``: the message came from a task queue, so it must be an IRS task, whose time limits may not
    exceed ``time_limit_s`` (the workers' hard limit), nor may its start be put off by more, from ``now``.
    """
    try:
        document = json.loads(text)
    except RecursionError:
        return "not JSON: nested too deeply"
    except ValueError as error:
        return f"not JSON ({error})"
    try:
        envelope = Envelope.model_validate(document)
    except RecursionError:
        return "not a kombu envelope: nested too deeply"
    except ValidationError as error:
        return f"not a kombu envelope: {_problems(error, document)}"
    try:
        raw = base64.b64decode(envelope.body, validate=True) if envelope.properties.body_encoding else envelope.body
        body = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return "the body is not JSON" + (" in base64" if envelope.properties.body_encoding else "")
    if "compression" in envelope.headers:  # kombu would decompress, fail, log and drop it (any queue)
        return "a compressed body: IRS sends none (header compression)"
    return _task_refusal(envelope, body, time_limit_s, now) if task_queue else None


def request_id(text: str) -> str | None:
    """The id of the request a message names, when it names one the way IRS does (``<32 hex>:<image key>``, the
    key one IRS accepts), whatever else is wrong with it; None otherwise. Only the id is read: it says where the
    request's answer belongs, so whoever waits on it learns when the message is dead-lettered."""
    task_id = _headers(text).get("id")
    if not isinstance(task_id, str) or len(task_id.encode()) > MAX_TASK_ID_BYTES:
        return None
    named = TASK_ID.fullmatch(task_id)
    return task_id if named is not None and IMAGE_KEY.fullmatch(named["key"]) else None


def owner_named(text: str) -> str | None:
    """The owner a message names, when it is an owner's name (whatever else is wrong with the message); None
    otherwise. Its answer, dead-lettered, is counted in that owner's usage and erased with it."""
    owner = _headers(text).get(OWNER)
    return owner if isinstance(owner, str) and re.fullmatch(OWNER_NAME, owner) else None


def _headers(text: str) -> dict[str, Any]:
    """A message's headers, unchecked; empty when it has none, or is not JSON."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    headers = document.get("headers") if isinstance(document, dict) else None
    return headers if isinstance(headers, dict) else {}


def model_named(sqs_body: str) -> str | None:
    """The model a queued request names, read from its SQS body (the kombu envelope, as text or in base64); None
    when it names none or cannot be read."""
    try:
        text = sqs_body if sqs_body.lstrip().startswith("{") else base64.b64decode(sqs_body, validate=True).decode()
        message = json.loads(text)
        body = message["body"]
        args, kwargs, _ = json.loads(base64.b64decode(body) if message["properties"].get("body_encoding") else body)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):  # binascii.Error is a ValueError
        return None
    return model_of(args, kwargs)


def _instant(text: str) -> float | None:
    """The POSIX time of an ISO 8601 time as Celery's worker reads it (naive: UTC), or None if it cannot."""
    try:
        parsed = maybe_iso8601(text)
        return None if parsed is None else maybe_make_aware(parsed, UTC).timestamp()
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def _task_refusal(envelope: Envelope, body: Any, time_limit_s: float, now: float | None) -> str | None:
    if len(json.dumps(envelope.headers)) > MAX_HEADERS_BYTES:
        return f"headers over the limit of {MAX_HEADERS_BYTES:,} bytes"
    try:
        headers = TaskHeaders.model_validate(envelope.headers)
    except ValidationError as error:
        return f"not a Celery task message: {_problems(error, envelope.headers, 'headers')}"
    if headers.task != TASK_NAME:
        return f"unknown task {headers.task[:100]}"
    if any(limit is not None and not 0 < limit <= time_limit_s for limit in headers.timelimit):
        return f"headers.timelimit: each limit must be at most the workers' {time_limit_s:g} s"
    for name in ("eta", "expires"):
        if getattr(headers, name) is not None and _instant(getattr(headers, name)) is None:
            return f"headers.{name} is not an ISO 8601 time"
    if headers.eta is not None and (_instant(headers.eta) or 0) - (time.time() if now is None else now) > time_limit_s:
        return f"headers.eta puts the task off by more than the workers' time limit ({time_limit_s:g} s)"
    try:
        args, kwargs, embed = body
    except (ValueError, TypeError):
        return "the task body is not [args, kwargs, options]"
    if not isinstance(embed, dict) or any(embed.get(name) is not None for name in EMBED) or set(embed) - set(EMBED):
        return "the task body's options may not chain other tasks (callbacks, errbacks, chain, chord)"
    try:
        call = call_of(args, kwargs)
    except BadCall as error:
        return str(error)
    key, model = call.image_key, call.model
    if model is not None and not (isinstance(model, str) and MODEL_REF.fullmatch(model)):
        return "the model is not one IRS accepts (NAME or NAME@<version>, lowercase, no '/')"
    if not isinstance(key, str) or not key or len(key.encode()) > MAX_IMAGE_KEY_BYTES or not IMAGE_KEY.fullmatch(key):
        return (f"the image key is not one IRS accepts (1 to {MAX_IMAGE_KEY_BYTES:,} bytes: an S3 key or "
                "s3://BUCKET/KEY; no control characters, no '..')")
    named = TASK_ID.fullmatch(headers.id)
    if named is None:
        return "the task id is not one IRS makes (<32 hex digits>:<image key>)"
    if named["key"] != key:
        return "task id does not match the image key"
    return None


def _problems(error: ValidationError, document: Any, root: str = "") -> str:
    """Up to three problems, said plainly and wrong types first: "properties is an int; body is missing"."""
    if not isinstance(document, dict):
        return f"the message is {_kind_of(document)}, not an object"
    said = []
    for detail in sorted(error.errors(), key=lambda d: d["type"] == "missing")[:3]:
        where = ".".join(str(part) for part in (root, *detail["loc"]) if part != "") or "the message"
        if detail["type"] == "missing":
            said.append(f"{where} is missing")
        elif detail["type"] == "extra_forbidden":
            said.append(f"{where} is not a name IRS sends")
        elif detail["type"].endswith("_type"):
            said.append(f"{where} is {_kind_of(detail['input'])}")
        else:
            said.append(f"{where}: {detail['msg']}")
    return "; ".join(said)


def _kind_of(value: Any) -> str:
    """A JSON value's kind, with its article: 'an object', 'a string'."""
    name = {"NoneType": "null", "dict": "object", "list": "array", "str": "string", "bool": "boolean"}.get(
        type(value).__name__, type(value).__name__)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
