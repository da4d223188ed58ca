"""IRS's pytest plugin, as a user's test suite meets it: run through pytest itself (pytester)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

USERS_TESTS = '''
import boto3
import botocore.config
import botocore.exceptions
import pytest

from irs.broker.app import app
from irs.tasks import classify
from tests_images import png


def test_my_code_classifies_an_upload(irs_eager, irs_upload, irs_results):
    key = irs_upload(png(), "grey.png")
    document = classify.delay(key).get()
    assert document["status"] == "ok" and document["image"]["format"] == "png"
    assert [d["task_id"] for d in irs_results] == [document["task_id"]]  # stored, as a worker stores it


def test_a_bad_image_gives_the_error_document_production_gives(irs_eager, irs_upload):
    document = classify.delay(irs_upload(b"just some text", "notes.jpg")).get()
    assert document["status"] == "error" and "not an image" in document["error"]
    assert document["detections"] == []


@pytest.mark.irs_model("yolo-fastest-1.1")
def test_a_marker_picks_a_smaller_model(irs_eager, irs_upload):
    assert classify.delay(irs_upload(png())).get()["model"]["name"] == "yolo-fastest-1.1"


def test_nothing_is_left_behind():
    assert not app.conf.task_always_eager and not app.conf.task_store_eager_result
    assert not classify.store_eager_result
    real = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=1))
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        real.list_buckets()  # not answered by a mock any more
'''
IMAGES = '''
import cv2
import numpy as np


def png() -> bytes:
    return cv2.imencode(".png", np.full((48, 64, 3), 200, dtype=np.uint8))[1].tobytes()
'''


def run(pytester: pytest.Pytester, *options: str) -> pytest.RunResult:
    pytester.makepyfile(test_users_code=USERS_TESTS, tests_images=IMAGES)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *options)


def test_a_users_tests_run_classify_eagerly_and_leave_nothing_behind(pytester: pytest.Pytester) -> None:
    if not (Path(os.environ.get("IRS_MODEL_DIR", "/nonexistent")) / "yolo-fastest-1.1-xl").is_dir():
        pytest.skip("needs IRS_MODEL_DIR with the models")
    result = run(pytester)
    result.assert_outcomes(passed=4)


def test_without_a_model_the_tests_are_skipped_saying_how_to_fetch_it(
        pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRS_MODEL_DIR", str(tmp_path / "no-models"))
    monkeypatch.setenv("IRS_CACHE_DIR", str(tmp_path / "no-cache"))
    result = run(pytester, "-rs")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*irs model fetch yolo-fastest-1.1-xl*"])


def test_the_documented_example_passes_as_written(pytester: pytest.Pytester, shared: Path) -> None:
    from tests.conftest import ROOT

    section = (ROOT / "docs" / "use" / "testing.md").read_text()
    example = section[section.index("```python\n") + len("```python\n"):section.index("```\n\nThe model comes")]
    pytester.makepyfile(test_thumbnails=example)
    (pytester.path / "photos").mkdir()
    (pytester.path / "photos" / "dog.jpg").write_bytes((shared / "images" / "dog.jpg").read_bytes())
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q").assert_outcomes(passed=3)
