"""Jobs over S3 on the local stack, with real workers: a prefix of a user's bucket classified, resumed after its
client is killed, followed to its end, announced on the events topic, and exported as a table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from irs.aws import clients, documents, events
from irs.jobs import progress, record
from irs.jobs.run import start
from irs.settings import get_settings
from tests.conftest import IMAGES, ROOT, SOURCE_BUCKET, Worker, wait_until

PHOTOS = sorted(p.name for p in IMAGES.glob("*.jpg"))
LIMIT = 400_000  # the job's --max-bytes: the padded copies are over it


@pytest.fixture(scope="module")
def camera(emulator: str) -> str:
    """The user's own bucket, outside IRS, listed in IRS_SOURCE_BUCKETS."""
    clients.client("s3").create_bucket(Bucket=SOURCE_BUCKET)
    return SOURCE_BUCKET


@pytest.fixture
def announced(emulator: str) -> Iterator[Any]:
    """A queue subscribed to the events topic, as a user would with SNS; yields a reader of its notices."""
    sqs, sns = clients.client("sqs"), clients.client("sns")
    url = sqs.create_queue(QueueName=f"{get_settings().queue_prefix}test-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=events.topic_arn(), Protocol="sqs", Endpoint=arn,
                                 Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
    seen: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            seen.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return seen

    yield read
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=url)


def put_prefix(prefix: str, images: int, others: int = 0, too_large: int = 0, broken: int = 0) -> None:
    """``images`` photos under ``prefix`` (the sample photos over and over), files that are not images, photos
    padded past LIMIT, and files named .jpg that are not images."""
    s3 = clients.client("s3")
    for n in range(images):
        name = PHOTOS[n % len(PHOTOS)]
        s3.put_object(Bucket=SOURCE_BUCKET, Key=f"{prefix}{n:04d}-{name}", Body=(IMAGES / name).read_bytes())
    for n in range(others):
        s3.put_object(Bucket=SOURCE_BUCKET, Key=f"{prefix}notes-{n}.txt", Body=b"not an image")
    for n in range(too_large):
        s3.put_object(Bucket=SOURCE_BUCKET, Key=f"{prefix}huge-{n}.jpg",
                      Body=(IMAGES / "dog.jpg").read_bytes() + b"\0" * LIMIT)
    for n in range(broken):
        s3.put_object(Bucket=SOURCE_BUCKET, Key=f"{prefix}broken-{n}.jpg", Body=b"\xff\xd8 not really a JPEG")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "irs.cli", *args]


def irs(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """An ``irs`` command run to its end (its output read as it comes, so a full pipe never stalls it)."""
    return subprocess.run(command(*args), cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)


def test_a_job_resumed_after_its_client_is_killed_classifies_each_image_once_and_exports_a_table(
        camera: str, cloud_worker: Worker, announced: Any, tmp_path: Path) -> None:
    put_prefix("archive/", images=200, others=6, too_large=3, broken=2)
    source, name = f"s3://{camera}/archive/", "archive"
    first = subprocess.Popen(command("job", "start", source, "--name", name, "--yes", "--max-bytes", str(LIMIT)),
                             cwd=ROOT, env={**os.environ, "IRS_JOB_PAGE_SIZE": "20"}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: (job := record.read(name)) is not None and job.parts >= 3, 60, "three pages sent")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    halfway = record.read(name)
    assert halfway is not None and halfway.state == "listing" and 3 <= halfway.parts < 11

    again = irs("job", "start", source, "--name", name, "--yes", "--max-bytes", str(LIMIT), IRS_JOB_PAGE_SIZE="20")
    assert again.returncode == 0, again.stderr
    waited = irs("job", "wait", name, "--timeout", "3m", timeout=240)
    assert waited.returncode == 1, waited.stderr  # two of the images were not images: errors, exit 1
    accepted = irs("job", "wait", name, "--errors-ok", timeout=60)  # the README's `wait --errors-ok && export`
    assert accepted.returncode == 0, accepted.stderr

    job = record.read(name)
    assert job is not None and job.state == "enqueued"
    assert (job.listed, job.enqueued, job.parts) == (211, 202, 11)  # resumed at its cursor, not from the start
    assert job.skipped == {"not an image": 6, "too large": 3}
    entries = record.manifest(name, job.parts)
    assert len(entries) == 211 and len({e.key for e in entries}) == 211  # every object recorded once
    # Each image has exactly one document, though the page being sent when the client died was sent again.
    per_image = Counter(key.rsplit("/", 1)[0] for key, _ in documents.listing(f"results/{source}"))
    assert len(per_image) == 202 and set(per_image.values()) == {1}
    done = progress.measure(name)
    assert done.complete and done.ok == 200 and done.errors == {"not_an_image": 2}

    notices = announced()
    assert Counter(n["event"] for n in notices if n["job"] == name) == {"job-started": 1, "job-finished": 1}
    finished = next(n for n in notices if n["event"] == "job-finished")
    assert finished["ok"] == 200 and finished["errors"] == {"not_an_image": 2} and finished["results"].endswith(source)

    table = tmp_path / "archive.parquet"
    exported = irs("job", "export", name, "-o", str(table), "--per", "image")
    assert exported.returncode == 0, exported.stderr
    import duckdb

    rows = duckdb.sql(f"select status, count(*) from '{table}' group by status order by status").fetchall()
    assert rows == [("error", 2), ("ok", 200)]
    dogs = duckdb.sql(f"select count(*) from '{table}' where image_key like '%dog.jpg' and labels like '%dog%'")
    assert dogs.fetchall() == [(sum(1 for n in range(200) if PHOTOS[n % len(PHOTOS)] == "dog.jpg"),)]


def test_a_job_started_twice_at_once_sends_each_image_once_and_answers_its_archived_objects_archived(
        camera: str, cloud_worker: Worker) -> None:
    put_prefix("twice/", images=29)
    long_key = "twice/" + "k" * 990 + ".jpg"  # 1,000 bytes: its result's key is cut, and the job still finds it
    clients.client("s3").put_object(Bucket=SOURCE_BUCKET, Key=long_key, Body=(IMAGES / "eagle.jpg").read_bytes())
    for storage_class in ("GLACIER", "DEEP_ARCHIVE"):
        clients.client("s3").put_object(Bucket=SOURCE_BUCKET, Key=f"twice/frozen-{storage_class.lower()}.jpg",
                                        Body=(IMAGES / "dog.jpg").read_bytes(), StorageClass=storage_class)
    source, name = f"s3://{camera}/twice/", "twice"
    starts = [subprocess.Popen(command("job", "start", source, "--name", name, "--yes"), cwd=ROOT, text=True,
                               env={**os.environ, "IRS_JOB_PAGE_SIZE": "4"}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE) for _ in range(2)]
    said = [start.communicate(timeout=120)[1] for start in starts]
    codes = [start.returncode for start in starts]
    assert 0 in codes and set(codes) <= {0, 1}, said
    for code, words in zip(codes, said, strict=True):  # the other one refused, or found it all sent already
        assert code == 0 or "another client" in words, words

    waited = irs("job", "wait", name, "--timeout", "2m", timeout=180)
    assert waited.returncode == 1, waited.stderr  # every image answered, two of them archived: errors
    done = progress.measure(name)
    assert done.complete and done.ok == 30 and done.errors == {"archived": 2}
    assert any(document.image_key.endswith(long_key) and document.status == "ok"
               for document in progress.results(name))
    job = record.read(name)
    assert job is not None and job.enqueued == 32 and job.sender is None
    sent = [entry.task_id for entry in record.manifest(name, job.parts) if entry.task_id]
    assert len(sent) == len(set(sent)) == 32
    log = cloud_worker.text()
    assert all(log.count(f"[{task_id}] received") == 1 for task_id in sent), "an image was sent twice"


def test_a_request_the_workers_did_not_start_before_the_jobs_deadline_is_answered_expired(
        camera: str, cloud_worker: Worker) -> None:
    put_prefix("late/", images=5)
    job = start(f"s3://{camera}/late/", name="late", deadline_s=0.001)
    assert job.enqueued == 5
    wait_until(lambda: progress.measure("late").complete, 60, "the late job's documents")
    assert progress.measure("late").errors == {"expired": 5}


def test_the_same_name_with_another_source_is_refused_not_mixed_up(camera: str) -> None:
    put_prefix("one/", images=1)
    put_prefix("two/", images=1)
    start(f"s3://{camera}/one/", name="mixed")
    with pytest.raises(record.BadJob, match="exists for s3://irs-test-camera/one/"):
        start(f"s3://{camera}/two/", name="mixed")


def test_a_bucket_the_deployment_does_not_read_is_refused_before_anything_is_listed(emulator: str) -> None:
    with pytest.raises(record.BadJob, match="IRS_SOURCE_BUCKETS"):
        start("s3://someone-elses-bucket/photos/", name="elsewhere")
    assert record.read("elsewhere") is None


def test_a_source_that_cannot_be_listed_fails_the_job_says_so_and_resumes_once_mended(
        emulator: str, announced: Any) -> None:
    sources = f"{SOURCE_BUCKET}/,irs-test-missing/"  # listed, but no such bucket
    failed = irs("job", "start", "s3://irs-test-missing/photos/", "--name", "missing", "--yes",
                 IRS_SOURCE_BUCKETS=sources)
    assert failed.returncode == 1
    assert "job missing failed" in failed.stderr
    job = record.read("missing")
    assert job is not None and job.state == "failed" and "NoSuchBucket" in (job.failure or "")
    said = [n for n in announced() if n["job"] == "missing"]
    assert [n["event"] for n in said] == ["job-started", "job-failed"] and "NoSuchBucket" in said[1]["reason"]
    clients.client("s3").create_bucket(Bucket="irs-test-missing")  # the cause mended, the same command resumes
    clients.client("s3").put_object(Bucket="irs-test-missing", Key="photos/dog.jpg", Body=b"\xff\xd8")
    again = irs("job", "start", "s3://irs-test-missing/photos/", "--name", "missing", "--yes",
                IRS_SOURCE_BUCKETS=sources)
    assert again.returncode == 0, again.stderr
    resumed = record.read("missing")
    assert resumed is not None and (resumed.state, resumed.enqueued, resumed.failure) == ("enqueued", 1, None)
