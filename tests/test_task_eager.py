"""The classify task's logic, run in Celery's eager mode through IRS's own pytest plugin (the path users take)."""

from __future__ import annotations

from typing import Any

import pytest

from irs.tasks import classify
from tests import images

pytestmark = pytest.mark.usefixtures("irs_eager")


def run(key: str) -> dict[str, Any]:
    result: dict[str, Any] = classify.delay(key).get()
    return result


def test_a_photo_yields_an_ok_document_with_every_field(irs_upload, photo) -> None:  # type: ignore[no-untyped-def]
    doc = run(irs_upload(photo("dog.jpg"), "dog.jpg"))
    assert doc["status"] == "ok" and "error" not in doc
    assert {"dog", "bicycle", "car"} <= {d["label"] for d in doc["detections"]}
    assert doc["summary"].startswith("dog.jpg: dog, bicycle, car")
    assert doc["model"]["name"] == "yolo-fastest-1.1-xl" and doc["model"]["version"]
    assert doc["pool"] == "cloud" and doc["worker"]
    assert {"download", "decode", "inference"} <= doc["timings_ms"].keys()
    assert set(doc["detections"][0]) == {"label", "confidence", "box"}
    assert set(doc["detections"][0]["box"]) == {"x", "y", "w", "h"}
    assert doc["started_at"] <= doc["finished_at"]


def test_the_task_id_names_the_image(irs_upload, photo) -> None:  # type: ignore[no-untyped-def]
    key = irs_upload(photo("eagle.jpg"), "eagle.jpg")
    result = classify.delay(key)
    assert result.id.endswith(":" + key) and result.get()["task_id"] == result.id


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"just some text", "not an image"),
    (images.png_claiming(30000, 30000), "30000x30000"),
    (images.gif(), "unsupported image format"),
])
def test_bad_input_yields_an_error_document_not_an_exception(irs_upload, data: bytes, reason: str) -> None:  # type: ignore[no-untyped-def]
    doc = run(irs_upload(data))
    assert doc["status"] == "error" and reason in doc["error"]
    assert doc["detections"] == [] and doc["summary"].endswith(doc["error"])


def test_a_missing_key_says_where_it_looked() -> None:
    doc = run("uploads/never-uploaded/cat.jpg")
    assert doc["status"] == "error" and "no image at s3://irs-uploads/uploads/never-uploaded/cat.jpg" in doc["error"]


def test_a_key_of_1000_bytes_is_classified_and_its_document_keeps_the_whole_key(irs_upload, photo) -> None:  # type: ignore[no-untyped-def]
    from irs.aws import documents
    from irs.results import result_key

    key = irs_upload(photo("dog.jpg"), "d" * 970 + ".jpg")
    assert len(key.encode()) >= 1000
    result = classify.delay(key)
    doc = result.get()
    assert doc["status"] == "ok" and doc["image_key"] == key
    assert documents.get(result_key(result.id)) == doc


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_an_archived_image_is_answered_archived_at_once_with_how_to_restore_it(storage_class: str) -> None:
    from irs.aws.clients import client
    from irs.settings import get_settings

    key = f"uploads/archive/{storage_class.lower()}.jpg"
    client("s3").put_object(Bucket=get_settings().input_bucket, Key=key, Body=images.png(64, 64),
                            StorageClass=storage_class)
    doc = run(key)
    assert doc["status"] == "error" and doc["error_kind"] == "archived", doc
    assert "restore it first" in doc["error"] and key in doc["error"]


def test_an_image_over_the_byte_limit_is_refused_before_it_is_read(irs_upload, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from irs.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_image_bytes", 1000)
    doc = run(irs_upload(images.png(200, 200) + b"\0" * 2000))
    assert doc["status"] == "error" and "over the limit of 1,000" in doc["error"]


def test_an_emulated_slow_device_takes_at_least_its_floor_and_says_so(irs_upload, photo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    from irs.settings import get_settings

    monkeypatch.setattr(get_settings(), "service_floor_ms", 300.0)
    doc = run(irs_upload(photo("eagle.jpg"), "eagle.jpg"))
    assert doc["emulated"] == {"service_floor_ms": 300.0}
    took = datetime.fromisoformat(doc["finished_at"]) - datetime.fromisoformat(doc["started_at"])
    assert took.total_seconds() >= 0.3


@pytest.mark.parametrize(("data", "kind"), [
    (b"", "empty"), (b"just some text", "not_an_image"), (images.png_claiming(30000, 30000), "too_many_pixels"),
    (images.gif(), "unsupported_format"), (images.truncated(images.gradient(400, 300), 300), "corrupt")])
def test_a_rejected_image_says_what_kind_of_wrong(irs_upload, data: bytes, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert run(irs_upload(data))["error_kind"] == kind


def test_every_document_a_worker_writes_fits_the_one_schema(irs_upload, irs_results, photo) -> None:  # type: ignore[no-untyped-def]
    from irs.results import ResultDocument

    run(irs_upload(photo("dog.jpg"), "dog.jpg"))
    run(irs_upload(b"not an image"))
    run("uploads/never-uploaded/cat.jpg")
    assert len(irs_results) == 3
    for document in irs_results:  # extra fields are refused too: the schema is the contract
        assert ResultDocument.model_validate(document).task_id == document["task_id"]
