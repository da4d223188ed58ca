"""How far a job has got: its result documents counted (ok, and errors by kind) against what it sent.

A job's documents are found by listing the results under its prefix and keeping those whose task id is the
job's (:func:`irs.jobs.record.task_id`); each is read once, and what was read is kept in the job's tally
(``jobs/NAME/tally.json``), so following a job costs a LIST per thousand documents and a GET per new one.
Each look also writes the job's :class:`Summary` (``jobs/NAME/progress.json``), a few hundred bytes that the
web tier reads. The first to see a job complete publishes its ``job-finished`` notice, once (a conditional
write decides who).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from irs.aws import documents
from irs.jobs import notices, record
from irs.jobs.record import PREFIX, Record
from irs.results import TASK_ID_HEX, ResultDocument, iso, task_id_of, under_cut_key
from irs.settings import get_settings

READERS = 16  # documents read at once

EVERY_S = 30.0  # how often the janitor follows the jobs not known to be finished


class Tally(BaseModel):
    """What has been read of a job's documents: each request's outcome, by its task id's head."""

    model_config = ConfigDict(extra="forbid")

    outcomes: dict[str, str] = Field(default_factory=dict, max_length=10_000_000)  # head -> "ok" or error kind
    finished_at: str | None = Field(default=None, max_length=40)


class Summary(BaseModel):
    """A job's progress as its last look found it: what ``irs job status --json``, the API and the notices say."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=record.NAME)
    source: str = Field(max_length=1100, description="s3://BUCKET/PREFIX the job lists")
    model: str | None = Field(max_length=140)
    state: str = Field(max_length=16, description="listing (still sending), enqueued (all sent), failed")
    created_at: str = Field(max_length=40)
    finished_at: str | None = Field(max_length=40, description="When its last document was tallied; null while "
                                                               "it runs")
    listed: int = Field(ge=0)
    enqueued: int = Field(ge=0)
    skipped: dict[str, int] = Field(max_length=8, description="Objects not sent, by reason")
    done: int = Field(ge=0)
    ok: int = Field(ge=0)
    errors: dict[str, int] = Field(max_length=32, description="Error documents, by error_kind")
    remaining: int = Field(ge=0, description="Sent and not answered yet")
    failure: str | None = Field(max_length=2000)
    results: str = Field(max_length=1200, description="Where its result documents are")


@dataclass(frozen=True)
class Progress:
    job: Record
    ok: int
    errors: dict[str, int] = field(default_factory=dict)
    finished_at: str | None = None

    @property
    def done(self) -> int:
        return self.ok + sum(self.errors.values())

    @property
    def remaining(self) -> int:
        """Requests sent and not answered yet: waiting in the jobs queue or being served."""
        return max(0, self.job.enqueued - self.done)

    @property
    def complete(self) -> bool:
        return self.job.state == "enqueued" and self.remaining == 0

    def rate(self, now: float | None = None) -> float:
        """Documents a second since the job began."""
        began = datetime.fromisoformat(self.job.created_at).astimezone(UTC).timestamp()
        return self.done / max(1e-3, (now or time.time()) - began)

    def summary(self) -> Summary:
        job, settings = self.job, get_settings()
        return Summary(name=job.name, source=job.spec.source, model=job.spec.model, state=job.state,
                       created_at=job.created_at, finished_at=self.finished_at, listed=job.listed,
                       enqueued=job.enqueued, skipped={str(k): n for k, n in job.skipped.items()},
                       done=self.done, ok=self.ok, errors=self.errors, remaining=self.remaining, failure=job.failure,
                       results=f"s3://{settings.results_bucket}/{settings.results_prefix}{job.spec.source}")


def tally_key(name: str) -> str:
    return f"{PREFIX}{name}/tally.json"


def finished_key(name: str) -> str:
    return f"{PREFIX}{name}/finished.json"


def summary_key(name: str) -> str:
    return f"{PREFIX}{name}/progress.json"


def last_summary(name: str) -> Summary:
    """The job's progress as the last look at it wrote it (read only: what the web tier shows)."""
    found = documents.read(summary_key(record.check_name(name)), Summary)
    return found if found is not None else measure(name, look=False).summary()


def document_keys(job: Record) -> dict[str, str]:
    """The keys of the job's result documents, by their task id's head, from a listing of the results under its
    prefix (another job's, or an interactive request's, under the same prefix are not the job's). A document
    under a cut key (:func:`irs.results.result_prefix`) names no task id: it is taken here, and its own task id
    checked once it is read."""
    found = {}
    for key, _ in documents.listing(f"{get_settings().results_prefix}{job.spec.source}"):
        request = task_id_of(key)
        if request is None and under_cut_key(key):
            found[key.rsplit("/", 1)[1][:TASK_ID_HEX]] = key
        elif request and request == record.task_id(job.name, request[TASK_ID_HEX + 1:]):
            found[request[:TASK_ID_HEX]] = key
    return found


def _documents(keys: list[str]) -> Iterator[ResultDocument | None]:
    """The documents at ``keys``, in their order, READERS at a time (None where one is missing or invalid)."""
    with ThreadPoolExecutor(READERS) as readers:
        for start in range(0, len(keys), READERS * 8):
            yield from readers.map(lambda key: documents.read(key, ResultDocument), keys[start: start + READERS * 8])


def measure(name: str, look: bool = True) -> Progress:
    """The job's progress now, its summary written; a complete job's ``job-finished`` notice is published on the
    way, once. Without ``look``, what its tally holds, and nothing written."""
    job = record.existing(name)
    tally = documents.read(tally_key(name), Tally) or Tally()
    if look and tally.finished_at is None and job.state != "failed":
        tally = _read_new(job, tally)
    errors = dict(Counter(outcome for outcome in tally.outcomes.values() if outcome != "ok"))
    progress = Progress(job, ok=len(tally.outcomes) - sum(errors.values()), errors=errors,
                        finished_at=tally.finished_at)
    if not look:
        return progress
    if progress.complete and tally.finished_at is None:
        progress = Progress(job, progress.ok, errors, finished_at=iso())
        documents.put_body(tally_key(name), tally.model_copy(update={"finished_at": progress.finished_at})
                           .model_dump_json())
        if documents.create(finished_key(name), b"{}"):
            notices.publish("job-finished", name, **progress.summary().model_dump(exclude={"name"}))
    documents.put_body(summary_key(name), progress.summary().model_dump_json())
    return progress


def _read_new(job: Record, tally: Tally) -> Tally:
    new = {head: key for head, key in document_keys(job).items() if head not in tally.outcomes}
    if not new:
        return tally
    outcomes = dict(tally.outcomes)
    for head, document in zip(new, _documents(list(new.values())), strict=True):
        if document is not None and document.task_id == record.task_id(job.name, document.image_key):
            outcomes[head] = "ok" if document.status == "ok" else str(document.error_kind or "error")
    tally = tally.model_copy(update={"outcomes": outcomes})
    documents.put_body(tally_key(job.name), tally.model_dump_json())
    return tally


def follow_all() -> int:
    """The janitor's job: measure every job not known to be finished, so each one's notice goes out even when
    nobody waits for it. Returns how many finished since the last turn."""
    finished = 0
    for name in record.names():
        if documents.get_bytes(finished_key(name)) is None and measure(name).complete:
            finished += 1
    return finished


def results(name: str) -> Iterator[ResultDocument]:
    """The job's result documents, read a few at a time, in key order (what ``irs job export`` writes)."""
    keys = sorted(document_keys(record.existing(name)).values())
    yield from (document for document in _documents(keys) if document is not None)
