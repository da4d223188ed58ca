"""The result document: its one schema, where it lives, and how a task id leads to it.

A task id is ``<32 hex>:<image key>``: unique per request, and it names the
image. The result document of a request lives at
``results/<image key>/<32 hex>.json``, derived from the task id alone: a
redelivered task finds its document written (the write is conditional) and never writes a second one,
and two requests for the same image, even at once, never overwrite each other.
The first 16 hex digits are the time the id was made, so the documents of an
image list in the order they were asked for; the last is the latest. An image
key too long for that to fit S3's key limit (a source object's own key may use
all 1,024 bytes) has its documents under as much of its key as fits, then ``~``
and the key's sha256: unique, still under its prefix (a job finds it by
listing), and the document keeps the whole key.

Every writer builds its document as a :class:`ResultDocument` (:func:`fitted`,
:func:`error_document`), so the schema is checked before it is written: a model that finds more than ``MAX_DETECTIONS``
objects has its most confident kept, with ``truncated`` and the total.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irs.contract import MAX_FILENAME, OWNER_NAME
from irs.settings import get_settings

TASK_ID_HEX = 32  # hex digits before the ":" of a task id
S3_MAX_KEY_BYTES = 1024  # S3's limit on an object key
#: The longest image key: an input bucket's key, or a source object's s3://BUCKET/KEY (a bucket name is at most 63).
MAX_IMAGE_KEY_BYTES = len("s3://") + 63 + len("/") + S3_MAX_KEY_BYTES
MAX_TASK_ID_BYTES = TASK_ID_HEX + len(":") + MAX_IMAGE_KEY_BYTES
_DIGEST = len("~") + 64
#: A result document under a cut key: ``~``, the whole key's sha256, then the document's own name.
_CUT = re.compile(rf"~[0-9a-f]{{64}}/[0-9a-f]{{{TASK_ID_HEX}}}\.json$")
MAX_DETECTIONS = 1000  # the most a result document lists; the rest are counted in detections_total
MAX_SUMMARY = 5000
_DOCUMENT_NAME = TASK_ID_HEX + len(".json")
#: How anything waiting for a result document polls: quickly at first, then backing off.
FIRST_POLL_S = 0.01
POLL_GROWTH = 1.5


def new_task_id(image_key: str) -> str:
    return f"{time.time_ns():016x}{secrets.token_hex(8)}:{image_key}"


def image_key_of(task_id: str) -> str | None:
    """The image key a task id names, or None for an id IRS did not make."""
    head, sep, key = task_id.partition(":")
    if sep and len(head) == TASK_ID_HEX and key:
        return key
    return None


def result_prefix(image_key: str) -> str:
    """Where every result document of an image lives: under its key, or, where that is too long, under as much of
    it as fits followed by ``~`` and its sha256."""
    prefix = get_settings().results_prefix
    plain = f"{prefix}{image_key}/"
    if len(plain.encode()) + _DOCUMENT_NAME <= S3_MAX_KEY_BYTES:
        return plain
    room = S3_MAX_KEY_BYTES - len(prefix.encode()) - _DIGEST - len("/") - _DOCUMENT_NAME
    cut = image_key.encode()[:max(0, room)].decode(errors="ignore")  # never half a character
    return f"{prefix}{cut}~{hashlib.sha256(image_key.encode()).hexdigest()}/"


def result_key(task_id: str) -> str:
    """The result document's key; ids IRS did not make get a key of their own."""
    image_key = image_key_of(task_id)
    if image_key is None:
        own = f"{get_settings().results_prefix}tasks/{task_id}.json"
        return own if len(own.encode()) <= S3_MAX_KEY_BYTES else result_prefix(task_id) + "task.json"
    return f"{result_prefix(image_key)}{task_id[:TASK_ID_HEX]}.json"


def task_id_of(key: str) -> str | None:
    """The task id whose result document lives at ``key`` (the inverse of :func:`result_key`); None for a
    document stored under a cut key and its hash (its own ``task_id`` says)."""
    prefix = get_settings().results_prefix
    image_key, _, name = key.removeprefix(prefix).rpartition("/")
    head = name.removesuffix(".json")
    if not key.startswith(prefix) or not image_key or len(head) != TASK_ID_HEX or not name.endswith(".json"):
        return None
    if under_cut_key(key):
        return None
    return f"{head}:{image_key}"


def under_cut_key(key: str) -> bool:
    """Whether the result document at ``key`` lives under a cut image key (see :func:`result_prefix`): such a key
    fills S3's limit, less at most the three bytes of a character the cut did not split."""
    return len(key.encode()) > S3_MAX_KEY_BYTES - 4 and _CUT.search(key) is not None


def iso(epoch: float | None = None) -> str:
    """A timestamp as the result documents write it: UTC, milliseconds; now by default."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds")


# --- the schema -------------------------------------------------------------------------------------------
class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Box(_Part):
    x: int = Field(ge=0, le=10**6)
    y: int = Field(ge=0, le=10**6)
    w: int = Field(ge=0, le=10**6)
    h: int = Field(ge=0, le=10**6)


class Detection(_Part):
    label: str = Field(max_length=200)
    confidence: float = Field(ge=0, le=1)
    box: Box | None = Field(description="Pixels of the original image; none for a classifier's labels")


class ImageFacts(_Part):
    format: str = Field(max_length=16)
    width: int = Field(ge=1, le=10**6)
    height: int = Field(ge=1, le=10**6)
    bytes: int = Field(ge=0, le=10**10)


class ModelFacts(_Part):
    name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    kind: Literal["detector", "classifier"]
    input_size: int = Field(ge=1, le=8192)
    runtime: Literal["onnxruntime", "openvino", "opencv"] | None = None  # absent before IRS had runtimes
    precision: Literal["f32", "bf16"] | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="The weights' sha256")
    labels: str | None = Field(default=None, max_length=300, description="Where the labels came from: the "
                               "registry's file, or the repository version's")


class Route(_Part):
    """Where the router sent the request, and why (the ``irs_route`` message header)."""

    pool: str = Field(max_length=80)
    cause: str | None = Field(default=None, max_length=32, description="measuring, faster, no_edge, stale, "
                              "pinned, later or error")
    reason: str = Field(max_length=500)
    expected_s: dict[str, float | None] = Field(default_factory=dict, max_length=8)


class Timings(_Part):
    queue_wait: float | None = Field(default=None, le=1e9)
    upload: float | None = Field(default=None, ge=0, le=1e9)
    download: float | None = Field(default=None, ge=0, le=1e9)
    decode: float | None = Field(default=None, ge=0, le=1e9)
    inference: float | None = Field(default=None, ge=0, le=1e9)


class ErrorKind(StrEnum):
    """Why a request was answered with an error, as a program reads it (``error`` says it for a person)."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"  # more bytes than IRS_MAX_IMAGE_BYTES
    TOO_MANY_PIXELS = "too_many_pixels"  # more pixels than IRS_MAX_IMAGE_PIXELS
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT = "corrupt"
    MISSING = "missing"  # no image at the key
    FORBIDDEN = "forbidden"  # IRS may not read it (S3 or its KMS key said no)
    ARCHIVED = "archived"  # in an archive storage class (GLACIER, DEEP_ARCHIVE): restore it first
    TASK_FAILED = "task_failed"  # the task raised, or its document did not fit the schema
    MODEL_UNAVAILABLE = "model_unavailable"  # the model asked for cannot be had on this worker
    EXPIRED = "expired"  # its deadline (Celery's expires) passed before a worker started it
    DEAD_LETTERED = "dead_lettered"  # its message went to a dead-letter queue, unanswered: the error says why


STAMP = Field(default=None, max_length=40, description="UTC, ISO 8601, milliseconds")


class ResultDocument(_Part):
    """One request's result: what a worker writes once to ``results/<image key>/<32 hex>.json``, the Celery
    result, and what the REST API answers."""

    image_key: str = Field(max_length=MAX_IMAGE_KEY_BYTES)
    task_id: str = Field(max_length=MAX_TASK_ID_BYTES, description="The request id")
    status: Literal["ok", "error"]
    detections: list[Detection] = Field(max_length=MAX_DETECTIONS, description="The most confident first when "
                                        "the model found more than fit (see truncated)")
    truncated: bool | None = Field(default=None, description="True when the model found more objects than "
                                   "the document lists")
    detections_total: int | None = Field(default=None, ge=0, description="How many the model found, when "
                                         "truncated")
    summary: str = Field(max_length=MAX_SUMMARY, description="The plain one-line form: dog.jpg: dog, bicycle, car")
    error: str | None = Field(default=None, max_length=2000, description="Why the image was not classified")
    error_kind: ErrorKind | None = None
    image: ImageFacts | None = None
    model: ModelFacts | None = None
    owner: str | None = Field(default=None, pattern=OWNER_NAME, description="Whose request it was: the web "
                              "token's name, or the operator of the job or command that sent it")
    filename: str | None = Field(default=None, max_length=MAX_FILENAME, description="The name the image was "
                                 "uploaded with (a label only; the key is the server's)")
    pool: str | None = Field(default=None, max_length=80)
    routing: Route | None = None
    worker: str | None = Field(default=None, max_length=300)
    source: str | None = Field(default=None, max_length=3000)
    submitted_at: str | None = STAMP
    started_at: str | None = STAMP
    finished_at: str | None = STAMP
    timings_ms: Timings | None = None
    emulated: dict[str, float] | None = Field(default=None, max_length=4)
    celery: dict[str, Any] | None = Field(default=None, description="Celery's own record of a task that failed")

    def as_json(self) -> dict[str, Any]:
        """The document as it is written and returned: the fields its writer set, in JSON's types."""
        return self.model_dump(mode="json", exclude_unset=True)


def error_document(image_key: str, task_id: str, reason: str, kind: ErrorKind, **extra: Any) -> ResultDocument:
    """A result that says the image could not be classified, and why."""
    return fitted({"image_key": image_key, "task_id": task_id, "status": "error", "error": reason,
                   "error_kind": kind, "detections": [], "summary": f"{image_key.rsplit('/', 1)[-1]}: error: {reason}",
                   **extra})


def fitted(document: dict[str, Any]) -> ResultDocument:
    """``document`` as the schema accepts it: its most confident detections when there are too many, its
    summary cut to length; an error document saying why, if it still does not validate (never raises)."""
    detections = document.get("detections")
    if isinstance(detections, list) and len(detections) > MAX_DETECTIONS:
        kept = sorted(detections, key=lambda d: -float(d.get("confidence", 0)))[:MAX_DETECTIONS]
        document = {**document, "detections": kept, "truncated": True, "detections_total": len(detections)}
    summary = document.get("summary")
    if isinstance(summary, str) and len(summary) > MAX_SUMMARY:
        document = {**document, "summary": summary[:MAX_SUMMARY - 1] + "…"}
    try:
        return ResultDocument.model_validate(document)
    except ValidationError as error:
        image_key = str(document.get("image_key", ""))[:MAX_IMAGE_KEY_BYTES]
        task_id = str(document.get("task_id", ""))[:MAX_TASK_ID_BYTES]
        problems = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in error.errors()[:3])
        return error_document(image_key, task_id, f"the result did not fit its schema: {problems}"[:2000],
                              ErrorKind.TASK_FAILED)
