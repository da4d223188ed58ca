"""A job's documents in the results bucket: its record (what was asked, how far listing got, the counts) and its
manifest (a part per listed page: each object, and the request it became or why it was skipped).

Every document is read back through a typed model: the bucket is trusted no more than any other input.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from irs.aws import documents
from irs.aws.clients import client
from irs.contract import OWNER_NAME
from irs.results import MAX_TASK_ID_BYTES, TASK_ID_HEX, iso
from irs.settings import get_settings

PREFIX = "jobs/"
NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
_NAME = re.compile(NAME)
_UNSAFE = re.compile(r"[^a-z0-9]+")
#: Why a listed object is not sent: its name does not end like an image, or its size is out of bounds. ("key too
#: long" is read in the records of jobs from before IRS classified every key S3 takes.)
SkipReason = Literal["not an image", "empty", "too large", "key too long"]


class BadJob(ValueError):
    """A job that cannot be started or resumed as asked; the message says why."""


class Spec(BaseModel):
    """What was asked: the same name asked again with another spec is refused, not mixed up."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=1100, description="s3://BUCKET/PREFIX")
    model: str | None = Field(default=None, max_length=140)
    deadline_s: float | None = Field(default=None, gt=0, le=14 * 24 * 3600)
    suffixes: tuple[str, ...] = Field(max_length=32)
    max_bytes: int = Field(gt=0)


class Sender(BaseModel):
    """The client that lists and sends the job: one at a time (:func:`irs.jobs.run.start` claims it)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(max_length=255)
    pid: int = Field(ge=0)
    seen_at: str = Field(max_length=40, description="when it last recorded a page")


class Record(BaseModel):
    """The job's record: its spec, where listing stands, and what was sent."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    spec: Spec
    created_at: str = Field(max_length=40)
    state: Literal["listing", "enqueued", "failed"] = "listing"
    cursor: str | None = Field(default=None, max_length=1100, description="the last key listed and recorded")
    parts: int = Field(default=0, ge=0)
    listed: int = Field(default=0, ge=0)
    enqueued: int = Field(default=0, ge=0)
    skipped: dict[SkipReason, int] = Field(default_factory=dict)
    failure: str | None = Field(default=None, max_length=2000)
    sender: Sender | None = None
    owner: str | None = Field(default=None, pattern=OWNER_NAME, description="whose requests it sends: its operator")

    @property
    def deadline(self) -> datetime | None:
        """When the job's requests expire: its deadline counts from its creation, across resumes."""
        if self.spec.deadline_s is None:
            return None
        return datetime.fromisoformat(self.created_at).astimezone(UTC) + timedelta(seconds=self.spec.deadline_s)


class Entry(BaseModel):
    """One listed object in the manifest: the request it became, or why it was skipped."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=1024)
    size: int = Field(ge=0)
    task_id: str | None = Field(default=None, max_length=MAX_TASK_ID_BYTES)
    skipped: SkipReason | None = None


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise BadJob(f"{name!r} is not a job name: up to 63 lower-case letters, digits and dashes")
    return name


def default_name(source: str) -> str:
    """A name from the source, the same each time, so that starting the same job again resumes it."""
    slug = _UNSAFE.sub("-", source.removeprefix("s3://").lower()).strip("-")[:40].strip("-")
    return f"{slug or 'job'}-{hashlib.sha256(source.encode()).hexdigest()[:8]}"


def task_id(name: str, image_key: str) -> str:
    """The request's id, the same each time the job sends it: a page sent twice after a crash yields one
    document (the results' conditional write keeps the first), and the job's documents are recognised by it."""
    head = hashlib.sha256(f"{name}\n{image_key}".encode()).hexdigest()[:TASK_ID_HEX]
    return f"{head}:{image_key}"


def record_key(name: str) -> str:
    return f"{PREFIX}{name}/job.json"


def part_key(name: str, index: int) -> str:
    return f"{PREFIX}{name}/manifest/{index:08d}.jsonl"


def new(name: str, spec: Spec, owner: str | None = None) -> Record:
    return Record(name=check_name(name), spec=spec, created_at=iso(), owner=owner)


def read(name: str) -> Record | None:
    return documents.read(record_key(check_name(name)), Record)


def read_versioned(name: str) -> tuple[Record, str] | None:
    """The job's record and its version, for a write that must not cross another client's (:func:`write_if`)."""
    return documents.read_versioned(record_key(check_name(name)), Record)


def write_if(record: Record, version: str | None) -> str | None:
    """Write the record only if it is still at ``version`` (None: only if there is none); its new version, or
    None if another client wrote it meanwhile."""
    return documents.write_if(record_key(record.name), record.model_dump_json(), version)


def existing(name: str) -> Record:
    """The job named ``name``; BadJob if there is none."""
    found = read(name)
    if found is None:
        raise BadJob(f"no job named {name}")
    return found


def write(record: Record) -> None:
    documents.put_body(record_key(record.name), record.model_dump_json())


def write_part(name: str, index: int, entries: list[Entry]) -> None:
    documents.put_body(part_key(name, index), "\n".join(entry.model_dump_json(exclude_none=True)
                                                        for entry in entries))


def manifest(name: str, parts: int) -> list[Entry]:
    """Every entry of the job's first ``parts`` manifest parts (a part that does not parse is an error)."""
    found = []
    for index in range(parts):
        body = documents.get_bytes(part_key(name, index))
        if body is None:
            raise BadJob(f"the manifest of job {name} lacks part {index}")
        found += [Entry.model_validate_json(line) for line in body.decode().splitlines() if line]
    return found


def names() -> list[str]:
    """Every job's name: the folders under ``jobs/`` (listed by delimiter, not every manifest part)."""
    pages = client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=get_settings().results_bucket, Prefix=PREFIX, Delimiter="/")
    found = [entry["Prefix"].removeprefix(PREFIX).rstrip("/") for page in pages
             for entry in page.get("CommonPrefixes", ())]
    return sorted(name for name in found if _NAME.match(name))
