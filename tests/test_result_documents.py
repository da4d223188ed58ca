"""Every result document is written as the schema accepts it, whatever the model found or the key was."""

from __future__ import annotations

from typing import Any

import pytest

from irs.results import MAX_DETECTIONS, S3_MAX_KEY_BYTES, ResultDocument, fitted, image_key_of, result_key


def _document(detections: int, key: str = "uploads/a/dog.jpg") -> dict[str, Any]:
    found = [{"label": f"thing-{n}", "confidence": round((n % 997) / 1000, 3),
              "box": {"x": 1, "y": 2, "w": 3, "h": 4}} for n in range(detections)]
    return {"image_key": key, "task_id": f"{'0' * 32}:{key}", "status": "ok", "detections": found,
            "summary": "dog.jpg: " + ", ".join(d["label"] for d in found)}


def test_a_document_within_the_schema_is_written_as_it_is() -> None:
    document = _document(3)
    assert fitted(document).as_json() == document


def test_more_detections_than_the_schema_allows_keep_the_most_confident_and_say_how_many() -> None:
    document = fitted(_document(8155)).as_json()
    ResultDocument.model_validate(document)
    assert document["truncated"] is True and document["detections_total"] == 8155
    kept = [d["confidence"] for d in document["detections"]]
    assert len(kept) == MAX_DETECTIONS and kept == sorted(kept, reverse=True)
    every = sorted((d["confidence"] for d in _document(8155)["detections"]), reverse=True)
    assert min(kept) >= every[MAX_DETECTIONS]  # none dropped was more confident than one kept


def test_a_document_that_cannot_be_fitted_becomes_an_error_document_saying_why() -> None:
    document = fitted({**_document(1), "status": "maybe"}).as_json()
    ResultDocument.model_validate(document)
    assert document["status"] == "error" and "did not fit its schema" in document["error"]


@pytest.mark.parametrize("length", [10, 900, 1000, 1024])
def test_every_result_key_fits_s3s_key_limit(length: int) -> None:
    image_key = "uploads/" + "k" * (length - len("uploads/"))
    key = result_key(f"{'a' * 32}:{image_key}")
    assert len(key.encode()) <= S3_MAX_KEY_BYTES
    assert image_key_of(f"{'a' * 32}:{image_key}") == image_key
    other = result_key(f"{'b' * 32}:{image_key}")
    assert key != other and key.rsplit("/", 1)[0] == other.rsplit("/", 1)[0]  # one image's documents together


def test_a_key_as_long_as_s3_takes_has_its_results_under_as_much_of_it_as_fits_unique_and_findable() -> None:
    from irs.results import S3_MAX_KEY_BYTES, new_task_id, result_key, result_prefix, task_id_of, under_cut_key

    head = "s3://camera-archive/2026/" + "é" * 400  # two bytes each: a cut never splits one
    keys = [head + "a" * 200 + ".jpg", head + "b" * 200 + ".jpg"]
    found = [result_key(new_task_id(key)) for key in keys]
    assert all(len(key.encode()) <= S3_MAX_KEY_BYTES for key in found)
    assert result_prefix(keys[0]) != result_prefix(keys[1])  # the same first bytes, another hash
    assert all(key.startswith("results/s3://camera-archive/2026/éé") for key in found)  # under the source's prefix
    assert all(under_cut_key(key) and task_id_of(key) is None for key in found)
    short = result_key(new_task_id("uploads/a/dog.jpg"))
    assert not under_cut_key(short) and task_id_of(short) is not None
