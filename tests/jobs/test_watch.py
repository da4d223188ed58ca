"""Watching a prefix on the local stack: S3's own notices of new objects, turned into requests by the janitor's
job, answered by a real worker; a bucket's other notifications kept; bad notices skipped, never fatal."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from irs.aws import clients, documents, queues
from irs.jobs import watch
from irs.results import ResultDocument, result_prefix
from irs.settings import get_settings
from tests.conftest import IMAGES, ROOT, SOURCE_BUCKET, Worker, wait_until


@pytest.fixture
def bucket(emulator: str) -> str:
    """The user's bucket, which already announces something of its own to a topic of its own."""
    s3, sns = clients.client("s3"), clients.client("sns")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    topic = sns.create_topic(Name=f"{get_settings().queue_prefix}users-own")["TopicArn"]
    s3.put_bucket_notification_configuration(Bucket=SOURCE_BUCKET, NotificationConfiguration={
        "TopicConfigurations": [{"Id": "users-own", "TopicArn": topic, "Events": ["s3:ObjectRemoved:*"]}]})
    return SOURCE_BUCKET


def _irs(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "irs.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr + done.stdout


def _document(url: str) -> ResultDocument | None:
    found = [key for key, _ in documents.listing(result_prefix(url))]
    return documents.read(found[0], ResultDocument) if found else None


def _turns_until(condition: object, what: str) -> None:
    """Run the janitor's watch job, as `irs autoscale` does every few seconds, until ``condition`` holds."""
    wait_until(lambda: watch.take_notices() >= 0 and condition(), 60, what, interval=0.5)  # type: ignore[operator]


def test_objects_put_after_a_watch_began_are_classified_and_the_buckets_own_notices_stay(
        bucket: str, cloud_worker: Worker) -> None:
    s3 = clients.client("s3")
    s3.put_object(Bucket=bucket, Key="inbox/before.jpg", Body=(IMAGES / "dog.jpg").read_bytes())
    assert "watching s3://irs-test-camera/inbox/" in _irs("watch", f"s3://{bucket}/inbox/", "--suffix", ".jpg")
    assert "already watching" in _irs("watch", f"s3://{bucket}/inbox/", "--suffix", ".jpg")
    assert "s3://irs-test-camera/inbox/ (*.jpg)" in _irs("watch", "--list")
    configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert [c["Id"] for c in configuration["TopicConfigurations"]] == ["users-own"]

    s3.put_object(Bucket=bucket, Key="inbox/dog.jpg", Body=(IMAGES / "dog.jpg").read_bytes())
    s3.put_object(Bucket=bucket, Key="inbox/notes.jpg", Body=b"a text file named like a photo")
    s3.put_object(Bucket=bucket, Key="inbox/notes.txt", Body=b"not watched: another suffix")
    s3.put_object(Bucket=bucket, Key="elsewhere/cat.jpg", Body=(IMAGES / "dog.jpg").read_bytes())
    dog, notes = f"s3://{bucket}/inbox/dog.jpg", f"s3://{bucket}/inbox/notes.jpg"
    _turns_until(lambda: _document(dog) is not None and _document(notes) is not None, "the new objects' results")
    answered, refused = _document(dog), _document(notes)
    assert answered is not None and answered.status == "ok" and "dog" in answered.summary
    assert refused is not None and refused.status == "error" and refused.error_kind == "not_an_image"
    for untouched in ("inbox/before.jpg", "inbox/notes.txt", "elsewhere/cat.jpg"):
        assert _document(f"s3://{bucket}/{untouched}") is None

    assert "stopped watching" in _irs("watch", "--stop", f"s3://{bucket}/inbox/", "--suffix", ".jpg")
    configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "QueueConfigurations" not in configuration or not configuration["QueueConfigurations"]
    assert [c["Id"] for c in configuration["TopicConfigurations"]] == ["users-own"]


@pytest.mark.parametrize("body", [
    "not json",
    json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                             "s3": {"bucket": {"name": "someone-elses"}, "object": {"key": "a.jpg", "size": 1}}}]}),
    json.dumps({"Records": [{"eventSource": "aws:sqs"}]}),
    json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": SOURCE_BUCKET}),
])
def test_a_notice_that_is_not_one_of_a_new_object_in_a_source_bucket_is_skipped_and_deleted(
        emulator: str, body: str) -> None:
    sqs = clients.client("sqs")
    url = queues.url(watch.queue_name())
    sqs.send_message(QueueUrl=url, MessageBody=body)
    assert watch.take_notices() == 0
    depth = queues.depth(watch.queue_name())
    assert depth.waiting == depth.in_flight == 0
