"""Real photos through the emulator's S3 and SQS and a real worker process, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from irs.aws import clients
from irs.results import result_key, result_prefix
from irs.settings import get_settings
from irs.tasks import classify
from tests import images
from tests.conftest import IMAGES, ROOT, wait_until


def stored(task_id: str) -> dict[str, Any]:
    body = clients.client("s3").get_object(Bucket=get_settings().results_bucket, Key=result_key(task_id))["Body"]
    document: dict[str, Any] = json.loads(body.read())
    return document


@pytest.mark.parametrize(("image", "expected"), [
    ("dog.jpg", {"dog", "bicycle", "car"}),
    ("eagle.jpg", {"bird"}),
    ("giraffe.jpg", {"giraffe"}),
    ("person.jpg", {"person", "dog"}),
])
def test_a_photo_comes_back_classified_and_its_document_is_in_s3(cloud_worker, upload, photo, image: str,
                                                                  expected: set[str]) -> None:
    key = upload(photo(image), image)
    doc = classify.delay(key).get(timeout=60)
    assert doc["status"] == "ok" and expected <= {d["label"] for d in doc["detections"]}
    assert stored(doc["task_id"]) == doc
    assert doc["pool"] == "cloud" and doc["worker"].startswith("cloud@")
    assert doc["timings_ms"]["queue_wait"] is not None and doc["timings_ms"]["queue_wait"] >= 0


def test_two_requests_for_one_image_each_get_their_own_document_in_order(cloud_worker, upload, photo
                                                                        ) -> None:  # type: ignore[no-untyped-def]
    key = upload(photo("dog.jpg"), "dog.jpg")
    first, second = classify.delay(key), classify.delay(key)  # at once, on two worker processes
    assert first.get(timeout=60)["task_id"] == first.id and second.get(timeout=60)["task_id"] == second.id
    listing = clients.client("s3").list_objects_v2(Bucket=get_settings().results_bucket, Prefix=result_prefix(key))
    assert [item["Key"] for item in listing["Contents"]] == [result_key(first.id), result_key(second.id)]


def test_bad_input_on_a_real_worker_is_answered_and_the_next_image_still_works(cloud_worker, upload, photo) -> None:  # type: ignore[no-untyped-def]
    bad = classify.delay(upload(images.truncated(photo("dog.jpg"), 20_000))).get(timeout=60)
    assert bad["status"] == "error" and "corrupt" in bad["error"]
    good = classify.delay(upload(photo("eagle.jpg"), "eagle.jpg")).get(timeout=60)
    assert good["status"] == "ok" and cloud_worker.alive()


def test_a_request_sent_with_a_countdown_is_admitted_held_and_answered(cloud_worker, upload, photo
                                                                      ) -> None:  # type: ignore[no-untyped-def]
    result = classify.apply_async((upload(photo("eagle.jpg"), "eagle.jpg"),), countdown=2)
    document = result.get(timeout=60)
    assert document["status"] == "ok" and "bird" in document["summary"]
    assert f"[{result.id}] received" in cloud_worker.text()


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_an_archived_image_is_answered_archived_at_once_by_a_real_worker(cloud_worker, photo, storage_class: str
                                                                         ) -> None:  # type: ignore[no-untyped-def]
    """S3 answers InvalidObjectState until the object is restored: permanent, so answered at once, not retried."""
    key = f"uploads/archive/{storage_class.lower()}.jpg"
    clients.client("s3").put_object(Bucket=get_settings().input_bucket, Key=key, Body=photo("dog.jpg"),
                                    StorageClass=storage_class)
    result = classify.delay(key)
    doc = result.get(timeout=60)
    assert doc["status"] == "error" and doc["error_kind"] == "archived" and "restore it first" in doc["error"], doc
    assert f"[{result.id}] retry" not in cloud_worker.text()  # answered once, never retried


def test_irs_classify_takes_objects_already_in_s3_and_answers_an_archived_one_archived(cloud_worker, photo
                                                                                       ) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import SOURCE_BUCKET

    s3 = clients.client("s3")
    if SOURCE_BUCKET not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=SOURCE_BUCKET)
    s3.put_object(Bucket=SOURCE_BUCKET, Key="cli/eagle.jpg", Body=photo("eagle.jpg"))
    s3.put_object(Bucket=SOURCE_BUCKET, Key="cli/frozen.jpg", Body=photo("dog.jpg"), StorageClass="DEEP_ARCHIVE")
    run = irs("classify", "--json", f"s3://{SOURCE_BUCKET}/cli/eagle.jpg", f"s3://{SOURCE_BUCKET}/cli/frozen.jpg",
              str(IMAGES / "horses.jpg"))
    assert run.returncode == 1, run.stderr  # every image answered, one with an error
    documents = {json.loads(line)["image_key"].rsplit("/", 1)[-1]: json.loads(line) for line in run.stdout.splitlines()}
    assert documents["eagle.jpg"]["status"] == "ok" and "bird" in documents["eagle.jpg"]["summary"]
    assert documents["eagle.jpg"]["image_key"] == f"s3://{SOURCE_BUCKET}/cli/eagle.jpg"
    assert documents["frozen.jpg"]["error_kind"] == "archived"
    assert documents["horses.jpg"]["status"] == "ok"
    outside = irs("classify", "s3://someone-elses-bucket/a.jpg")
    assert outside.returncode == 2 and "not in a source this deployment may read" in outside.stderr


def irs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irs.cli", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_irs_classify_json_prints_one_document_per_line(cloud_worker) -> None:  # type: ignore[no-untyped-def]
    run = irs("classify", "--json", str(IMAGES / "dog.jpg"), str(IMAGES / "eagle.jpg"), str(IMAGES / "horses.jpg"))
    assert run.returncode == 0, run.stderr
    documents = [json.loads(line) for line in run.stdout.splitlines()]
    assert sorted(d["summary"].split(":")[0] for d in documents) == ["dog.jpg", "eagle.jpg", "horses.jpg"]
    assert all(d["status"] == "ok" and d["timings_ms"]["upload"] is not None for d in documents)


def test_irs_classify_prints_summaries_and_fails_when_an_image_is_bad(cloud_worker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    run = irs("classify", str(IMAGES / "giraffe.jpg"), str(broken))
    assert run.returncode == 1
    assert "giraffe.jpg: giraffe" in run.stdout and "broken.jpg: error: not an image" in run.stdout


def test_irs_status_reports_every_pool(cloud_worker) -> None:  # type: ignore[no-untyped-def]
    from irs.fleet import reports

    wait_until(lambda: reports.read("cloud"), 20, "the cloud worker's first report")
    run = irs("status", "--json")
    assert run.returncode == 0, run.stderr
    pools = {p["pool"]: p for p in json.loads(run.stdout)}
    assert pools.keys() == {"cloud", "edge", "jobs"}
    assert {"waiting", "in_flight", "delayed", "dead_lettered", "busy_workers"} <= pools["cloud"].keys()
    assert pools["cloud"]["workers"] >= 1  # the session's cloud worker reports itself
    assert pools["jobs"]["workers"] == pools["cloud"]["workers"] and pools["jobs"]["served"] == 0  # the cloud's


def test_irs_status_of_a_request_says_which_pool_served_it_and_why(cloud_worker, upload, photo
                                                                   ) -> None:  # type: ignore[no-untyped-def]
    from irs.fleet import reports

    document = classify.delay(upload(photo("dog.jpg"), "dog.jpg")).get(timeout=60)
    run = irs("status", document["task_id"])
    assert run.returncode == 0, run.stderr
    assert "served by cloud" in run.stdout and f"routed to cloud: {document['routing']['reason']}" in run.stdout
    wait_until(lambda: sum(r.processed for r in reports.read("cloud").values()) >= 1, 20, "a report counting it")
    pools = {p["pool"]: p for p in json.loads(irs("status", "--json").stdout)}
    assert pools["cloud"]["served"] >= 1
    assert irs("status", "0" * 32 + ":uploads/none.jpg").returncode == 1


def test_irs_edge_watch_classifies_what_lands_in_a_directory(cloud_worker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    for name in ("dog.jpg", "eagle.jpg"):
        shutil.copy(IMAGES / name, tmp_path / name)
    run = irs("edge", "watch", str(tmp_path), "--json", "--once")
    assert run.returncode == 0, run.stderr
    summaries = sorted(json.loads(line)["summary"].split(":")[0] for line in run.stdout.splitlines())
    assert summaries == ["dog.jpg", "eagle.jpg"]


def test_irs_edge_watch_camera_without_picamera2_says_how_to_get_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = irs("edge", "watch", str(tmp_path), "--camera", "1")
    assert run.returncode == 1
    assert "picamera2 is not installed" in run.stderr and "python3-picamera2" in run.stderr


def test_a_client_that_gives_up_says_which_batch_to_collect_and_irs_results_collects_it(cloud_worker) -> None:  # type: ignore[no-untyped-def]
    import re
    import subprocess
    import sys

    from tests.conftest import IMAGES, ROOT

    run = subprocess.run([sys.executable, "-m", "irs.cli", "classify", "--timeout", "0.01", str(IMAGES / "dog.jpg"),
                          str(IMAGES / "eagle.jpg")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr  # not every image answered: unfinished
    found = re.search(r"2 of 2 images were submitted as batch (\S+): collect them with `irs results \1`", run.stderr)
    assert found, run.stderr
    later = subprocess.run([sys.executable, "-m", "irs.cli", "results", found.group(1), "--wait", "60"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert later.returncode == 0, later.stderr
    assert "dog.jpg: dog" in later.stdout and "eagle.jpg: bird" in later.stdout
    nothing = subprocess.run([sys.executable, "-m", "irs.cli", "results", "20200101-000000000000"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert nothing.returncode == 1 and "no images in batch" in nothing.stderr


def test_irs_results_exports_a_batch_as_a_table_duckdb_reads(cloud_worker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import duckdb

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    run = irs("classify", "--json", str(IMAGES / "dog.jpg"), str(IMAGES / "horses.jpg"), str(broken))
    assert run.returncode == 1, run.stderr  # one image could not be classified
    (batch,) = {json.loads(line)["image_key"].split("/")[1] for line in run.stdout.splitlines()}
    table = tmp_path / "batch.parquet"
    exported = irs("results", batch, "--export", str(table))
    assert exported.returncode == 1 and f"to {table}" in exported.stderr, exported.stderr
    labels = dict(duckdb.sql(f"SELECT split_part(image_key, '/', -1), string_agg(label, ',' ORDER BY rank) "
                             f"FROM '{table}' GROUP BY ALL").fetchall())
    assert labels["dog.jpg"].split(",")[0] == "dog" and "horse" in labels["horses.jpg"]
    assert labels["broken.jpg"] is None
    per_image = tmp_path / "images.csv"
    assert irs("results", batch, "--export", str(per_image), "--per", "image").returncode == 1
    assert duckdb.sql(f"SELECT count(*) FROM '{per_image}'").fetchall() == [(3,)]
