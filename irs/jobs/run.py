"""Starting a job, and resuming one: list the prefix a page at a time, send each page's images to the jobs
queue, then record the page (its manifest part, the listing cursor, the counts).

A page is recorded only once it has been sent, so a client killed at any point resumes from the last recorded
page: at most the page it was sending is sent again, with the same task ids, and the results' conditional write
keeps one document per image.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from irs.aws import s3_answers
from irs.aws.clients import AWS_ERRORS
from irs.contract import OWNER, arguments, split_ref
from irs.jobs import notices, record
from irs.jobs.listing import DEFAULT_SUFFIXES, pages, skip_reason, sort, source_of
from irs.jobs.record import BadJob, Record, Sender, Spec
from irs.pools import JOBS
from irs.results import iso
from irs.settings import get_settings
from irs.sources import Location, parse


def spec_of(url: str, model: str | None = None, deadline_s: float | None = None,
            suffixes: tuple[str, ...] = DEFAULT_SUFFIXES, max_bytes: int | None = None) -> Spec:
    from irs.repository.store import pin

    settings = get_settings()
    return Spec(source=str(source_of(url)), model=pin(model, settings) if model else None, deadline_s=deadline_s,
                suffixes=tuple(s.lower() for s in suffixes), max_bytes=max_bytes or settings.max_image_bytes)


def count(url: str, suffixes: tuple[str, ...] = DEFAULT_SUFFIXES, max_bytes: int | None = None,
          on_page: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """How many objects the prefix holds, and how many of them the job would send (listing only)."""
    source, limit = source_of(url), max_bytes or get_settings().max_image_bytes
    listed = images = 0
    for objects in pages(source):
        listed += len(objects)
        images += sum(skip_reason(str(Location(source.bucket, key)), size, suffixes, limit) is None
                      for key, size in objects)
        if on_page:
            on_page(listed, images)
    return listed, images


def start(url: str, name: str | None = None, model: str | None = None, deadline_s: float | None = None,
          suffixes: tuple[str, ...] = DEFAULT_SUFFIXES, max_bytes: int | None = None,
          on_page: Callable[[Record], None] | None = None, owner: str | None = None) -> Record:
    """Start the job over ``s3://BUCKET/PREFIX``, or resume the one of that name; returns its record once every
    image has been sent. A request not started ``deadline_s`` after the job began is answered ``expired``. Its
    requests are ``owner``'s (IRS_OWNER when None), recorded when the job is created: a resume keeps it.

    One client sends a job at a time: each start claims the job's record with a conditional write, and a second
    start while the first is alive is refused (:class:`BadJob`), so no image is sent twice."""
    spec = spec_of(url, model, deadline_s, suffixes, max_bytes)
    name = record.check_name(name or record.default_name(spec.source))
    job, version = _claim(name, spec, owner or get_settings().owner)
    if job.state == "enqueued":
        return job  # all sent: nothing to resume
    try:
        return _send(job, version, on_page)
    except Exception as error:
        if isinstance(error, AWS_ERRORS) and s3_answers.permanent(error):  # the source cannot be listed at all
            failed = job.model_copy(update={"state": "failed", "failure": str(error)[:2000], "sender": None})
            record.write(failed)
            notices.publish("job-failed", name, source=spec.source, reason=str(error)[:1000])
            raise BadJob(f"job {name} failed: {error}") from None
        raise


def _claim(name: str, spec: Spec, owner: str | None = None) -> tuple[Record, str]:
    """The job's record, claimed for this client (created if it is new), and its version; BadJob when another
    client is sending it, or the name is taken by another job."""
    me = _me()
    found = record.read_versioned(name)
    if found is None:
        job = record.new(name, spec, owner).model_copy(update={"sender": me})
        version = record.write_if(job, None)
        if version is not None:
            notices.publish("job-started", name, source=spec.source, model=spec.model, deadline_s=spec.deadline_s)
            return job, version
        found = record.read_versioned(name)  # another start created it at the same moment
        if found is None:
            raise BadJob(f"job {name} was created and removed while this start looked at it; start it again")
    job, version = found
    if not _same(job.spec, spec):
        raise BadJob(f"a job named {name} exists for {job.spec.source} (model {job.spec.model}, deadline "
                     f"{job.spec.deadline_s}); give this one another --name")
    if job.state == "enqueued":
        return job, version
    if job.sender is not None and _alive(job.sender):
        raise BadJob(f"job {name} is being sent by another client (pid {job.sender.pid} on {job.sender.host}, last "
                     f"seen {job.sender.seen_at}): follow it with `irs job status {name}`; if that client is gone, "
                     f"start it again after {sender_lease_s():.0f} s")
    job = job.model_copy(update={"sender": me})
    claimed = record.write_if(job, version)
    if claimed is None:
        raise BadJob(f"job {name} was started by another client at the same moment: follow it with "
                     f"`irs job status {name}`")
    return job, claimed


def sender_lease_s() -> float:
    """How long a client that claimed a job may stay silent before another may take it over: a page's sends ride
    out SQS trouble for the client's patience, then the page is recorded."""
    from irs.client import PATIENCE_S

    return PATIENCE_S + 60


def _me() -> Sender:
    return Sender(host=socket.gethostname(), pid=os.getpid(), seen_at=iso())


def _alive(sender: Sender) -> bool:
    """Whether the client that claimed a job may still be sending it: on this host, while its process lives (not
    this process: its earlier start has ended); from elsewhere, until :func:`sender_lease_s` after it last
    recorded a page."""
    if sender.host == socket.gethostname():
        if sender.pid == os.getpid():
            return False
        try:
            os.kill(sender.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process: alive
    seen = datetime.fromisoformat(sender.seen_at).astimezone(UTC).timestamp()
    return time.time() - seen < sender_lease_s()


def _same(old: Spec, new: Spec) -> bool:
    """The same job asked again: a repository model's latest version may have moved on since; its name may not."""
    model_names = [split_ref(m)[0] if m else None for m in (old.model, new.model)]
    return model_names[0] == model_names[1] and old.model_copy(update={"model": None}) == \
        new.model_copy(update={"model": None})


def _send(job: Record, version: str, on_page: Callable[[Record], None] | None) -> Record:
    """Send the rest of the job, from its cursor (a failed job, started again, resumes there too); each record
    written is conditional on the last, so a client that lost its claim stops (BadJob) instead of sending on."""
    from irs.broker.app import app
    from irs.client import PATIENCE_S  # how long each page's sends ride out SQS trouble, as a submission's do
    from irs.tasks import classify

    def recorded(updated: Record) -> str:
        updated = updated.model_copy(update={"sender": updated.sender and updated.sender.model_copy(
            update={"seen_at": iso()})})
        written = record.write_if(updated, version)
        if written is None:
            raise BadJob(f"another client took job {job.name} over (this one was silent for over "
                         f"{sender_lease_s():.0f} s); it sends the rest")
        return written

    if job.state == "failed":
        job = job.model_copy(update={"state": "listing", "failure": None})
        version = recorded(job)

    source = parse(job.spec.source, prefix=True)
    with app.producer_or_acquire() as producer:
        for objects in pages(source, after=job.cursor):
            page = sort(job.name, source, objects, job.spec.suffixes, job.spec.max_bytes)
            with producer.channel.batched_sends(time.monotonic() + PATIENCE_S):
                for entry in page.images:
                    classify.apply_async(arguments(str(Location(source.bucket, entry.key)), job.spec.model),
                                         task_id=entry.task_id, producer=producer, queue=JOBS,
                                         expires=job.deadline, headers={OWNER: job.owner} if job.owner else {})
            record.write_part(job.name, job.parts, page.entries)
            skipped: Counter[Any] = Counter(job.skipped)
            skipped.update(entry.skipped for entry in page.entries if entry.skipped)
            job = job.model_copy(update={"cursor": page.last_key, "parts": job.parts + 1,
                                         "listed": job.listed + len(page.entries),
                                         "enqueued": job.enqueued + len(page.images), "skipped": dict(skipped)})
            version = recorded(job)
            if on_page:
                on_page(job)
    job = job.model_copy(update={"state": "enqueued", "sender": None})
    recorded(job)
    return job
