"""The pieces of jobs and watches that decide, without AWS: what a source may be, which objects a job sends, what a
notice announces, what a job will cost, and how long a duration is."""

from __future__ import annotations

import json

import click
import pytest

from irs.cli.params import DURATION
from irs.jobs import cost, record
from irs.jobs.listing import DEFAULT_SUFFIXES, skip_reason, sort, source_of
from irs.jobs.watch import requests_of
from irs.settings import Settings
from irs.sources import BadLocation, Location, allowed, parse, rules

SOURCES = rules("camera-archive/2026/,inbox")


@pytest.mark.parametrize(("url", "ok"), [
    ("s3://camera-archive/2026/11/a.jpg", True),
    ("s3://camera-archive/2025/a.jpg", False),  # the bucket, outside its prefix
    ("s3://inbox/any/thing.jpg", True),
    ("s3://inbox-2/a.jpg", False),  # a bucket whose name begins like one listed
    ("s3://camera-archive-other/2026/a.jpg", False),
])
def test_a_source_is_a_listed_bucket_and_prefix_and_nothing_more(url: str, ok: bool) -> None:
    assert allowed(parse(url), SOURCES) is ok


@pytest.mark.parametrize("url", ["camera/a.jpg", "s3://", "s3://UPPER/a.jpg", "s3://a..b/c", "s3://ab/c",
                                 "s3://camera-archive"])
def test_what_is_not_an_s3_url_of_an_object_is_refused_with_its_reason(url: str) -> None:
    with pytest.raises(BadLocation):
        parse(url)


def test_a_bad_source_bucket_setting_stops_the_process_at_start() -> None:
    with pytest.raises(ValueError, match="not a bucket name"):
        Settings(source_buckets="good-bucket/,Bad_Bucket")


@pytest.mark.parametrize(("key", "size", "reason"), [
    ("2026/a.JPG", 1000, None),
    ("2026/a.webp", 1000, None),
    ("2026/notes.txt", 10, "not an image"),
    ("2026/empty.jpg", 0, "empty"),
    ("2026/huge.jpg", 2_000_001, "too large"),
    ("2026/" + "x" * 1015 + ".jpg", 10, None),  # 1,024 bytes, S3's limit: its result's key is cut and hashed
])
def test_a_job_sends_only_objects_that_look_like_images(key: str, size: int, reason: str | None) -> None:
    assert skip_reason(f"s3://camera-archive/{key}", size, DEFAULT_SUFFIXES, 2_000_000) == reason


def test_each_listed_object_becomes_a_request_with_the_jobs_own_id_or_a_skip() -> None:
    page = sort("nov", Location("camera-archive", "2026/"), [("2026/a.jpg", 10), ("2026/b.txt", 10)],
                DEFAULT_SUFFIXES, 100)
    assert [e.skipped for e in page.entries] == [None, "not an image"] and page.last_key == "2026/b.txt"
    (image,) = page.images
    assert image.task_id == record.task_id("nov", "s3://camera-archive/2026/a.jpg")
    assert image.task_id.endswith(":s3://camera-archive/2026/a.jpg")
    assert record.task_id("dec", "s3://camera-archive/2026/a.jpg") != image.task_id  # another job's request


def test_the_same_source_gets_the_same_default_name_so_starting_it_again_resumes_it() -> None:
    name = record.default_name("s3://camera-archive/2026/11/")
    assert name == record.default_name("s3://camera-archive/2026/11/") != record.default_name("s3://inbox/")
    assert record.check_name(name) == name and name.startswith("camera-archive-2026-11-")


def _notice(bucket: str, key: str, event: str = "ObjectCreated:Put") -> str:
    return json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": event, "awsRegion": "us-east-1",
                                    "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 5}}}]})


def test_a_notice_names_its_object_decoded_as_s3_encodes_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("irs.jobs.watch.get_settings", lambda: Settings(source_buckets="inbox/"))
    found, skipped = requests_of(_notice("inbox", "cam+7/photo%C3%A9.jpg"))
    assert skipped is None and [str(f) for f in found] == ["s3://inbox/cam 7/photoé.jpg"]


@pytest.mark.parametrize(("body", "says"), [
    ("{", "not JSON"),
    (json.dumps({"Event": "s3:TestEvent"}), "test event"),
    (_notice("inbox", "a.jpg", event="ObjectRemoved:Delete"), "not an S3 notice of a new object"),
    (_notice("elsewhere", "a.jpg"), "not in a source"),
    (_notice("inbox", "k" * 1100), "too long"),
    (json.dumps({"Records": []}), "not an S3 notice"),
    (json.dumps([1, 2]), "not an S3 notice"),
])
def test_a_notice_that_announces_no_new_object_in_a_source_is_skipped_with_its_reason(
        monkeypatch: pytest.MonkeyPatch, body: str, says: str) -> None:
    monkeypatch.setattr("irs.jobs.watch.get_settings", lambda: Settings(source_buckets="inbox/"))
    found, skipped = requests_of(body)
    assert found == [] and skipped is not None and says in skipped


def test_a_jobs_cost_is_its_requests_and_its_host_time() -> None:
    settings = Settings(concurrency=2, ec2_usd_per_hour=0.085)
    guess = cost.estimate(1_000_000, settings, max_hosts=20)
    assert guess.requests_usd == pytest.approx(0.75 * 0.40 + 1.08 * 0.40 + 1.00 * 5.00 + 0.001 * 5.00)
    assert guess.instance_hours == pytest.approx(1_000_000 * 0.025 / 2 / 3600)
    assert guess.instance_usd == pytest.approx(guess.instance_hours * 0.085)
    assert guess.hours_at_cap == pytest.approx(guess.instance_hours / 20)


@pytest.mark.parametrize(("given", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200),
                                                ("1.5d", 129600), (45, 45)])
def test_a_duration_is_seconds_or_a_number_with_a_unit(given: object, seconds: float) -> None:
    assert DURATION.convert(given, None, None) == seconds


@pytest.mark.parametrize("given", ["2 hours", "h", "-5", "0"])
def test_what_is_not_a_duration_is_refused(given: str) -> None:
    with pytest.raises(click.BadParameter):
        DURATION.convert(given, None, None)


def test_a_job_or_watch_on_what_is_not_a_readable_s3_prefix_is_refused_with_its_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("irs.jobs.listing.get_settings", lambda: Settings(source_buckets="inbox/"))
    with pytest.raises(record.BadJob, match="not an S3 URL"):
        source_of("inbox/cam-7/")  # irs watch once let this escape as a traceback
    with pytest.raises(record.BadJob, match="IRS_SOURCE_BUCKETS"):
        source_of("s3://elsewhere/cam-7/")
    assert source_of("s3://inbox/cam-7/") == Location("inbox", "cam-7/")


@pytest.mark.parametrize(("url", "kind"), [("s3://elsewhere/a.jpg", "forbidden"), ("s3://inbox", "missing"),
                                           ("s3://Not_A_Bucket/a.jpg", "missing")])
def test_a_worker_refuses_an_s3_url_it_may_not_read_before_asking_s3(
        monkeypatch: pytest.MonkeyPatch, url: str, kind: str) -> None:
    from irs.inference.imaging import BadImage
    from irs.worker.images import source

    monkeypatch.setattr("irs.worker.images.get_settings", lambda: Settings(source_buckets="inbox/"))
    with pytest.raises(BadImage) as refused:
        source(url)
    assert refused.value.kind == kind


def test_one_client_sends_a_job_a_live_one_keeps_it_and_one_whose_process_is_gone_is_taken_over(mocked_aws) -> None:  # type: ignore[no-untyped-def]
    import os
    import socket
    import subprocess
    import sys

    from irs.jobs import run
    from irs.jobs.record import BadJob, Sender
    from irs.results import iso

    spec = run.spec_of("s3://irs-test-camera/claims/")
    first, version = run._claim("claims", spec)  # created, and claimed by this process
    assert first.sender is not None and first.sender.pid == os.getpid() and version
    again = run._claim("claims", spec)[0].sender  # this process's own earlier start has ended: claimed again
    assert again is not None and again.pid == os.getpid() and again.seen_at >= first.sender.seen_at

    elsewhere = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record.write(first.model_copy(update={"sender": Sender(host=socket.gethostname(), pid=elsewhere.pid,
                                                               seen_at=iso())}))
        with pytest.raises(BadJob, match="being sent by another client"):
            run._claim("claims", spec)
    finally:
        elsewhere.kill()
        elsewhere.wait()
    taken, _ = run._claim("claims", spec)  # its process is gone: taken over at once
    assert taken.sender is not None and taken.sender.pid == os.getpid()
    record.write(first.model_copy(update={"sender": Sender(host="another-host", pid=1, seen_at=iso())}))
    with pytest.raises(BadJob, match="being sent by another client"):  # another host's, seen just now
        run._claim("claims", spec)
