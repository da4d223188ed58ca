"""Repository models served by a real worker on the local stack: chosen per request, two versions side by
side, fetched on first use, pinned when sent, and a removed one answered with an error, not a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from irs.repository import store
from irs.settings import get_settings
from irs.tasks import classify
from tests.conftest import IMAGES, ROOT
from tests.helpers.repository import add_renamed

# COCO's indices of what dog.jpg holds: bicycle 1, car 2, dog 16.
DOG_JPG = {1, 2, 16}


def _labels(document: dict[str, Any]) -> set[str]:
    assert document["status"] == "ok", document
    return {d["label"] for d in document["detections"]}


@pytest.fixture
def dog(upload, photo) -> str:  # type: ignore[no-untyped-def]
    key: str = upload(photo("dog.jpg"), "dog.jpg")
    return key


def test_a_request_names_a_repository_model_and_its_labels_come_from_that_models_names(
        cloud_worker, dog: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = add_renamed("things", "thing", tmp_path)
    document = classify.delay(dog, model="things").get(timeout=120)
    assert {f"thing-{n}" for n in DOG_JPG} <= _labels(document)
    assert document["model"]["name"] == "things" and document["model"]["version"] == manifest.short
    assert document["model"]["sha256"] == manifest.files["weights"].sha256
    assert document["model"]["labels"] == f"models/things/{manifest.version}/model.names"
    # The same worker, no restart, goes on serving its default model and the other one, in turn.
    pid = cloud_worker.process.pid
    assert {"dog", "bicycle", "car"} <= _labels(classify.delay(dog).get(timeout=60))
    assert "thing-16" in _labels(classify.delay(dog, model="things").get(timeout=60))
    assert cloud_worker.alive() and cloud_worker.process.pid == pid


def test_two_versions_are_served_side_by_side_and_a_request_keeps_the_version_it_was_sent_for(
        cloud_worker, dog: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = add_renamed("beasts", "beast", tmp_path)
    second = add_renamed("beasts", "animal", tmp_path)
    pinned, latest = classify.delay(dog, model=first.ref), classify.delay(dog, model="beasts")
    third = add_renamed("beasts", "creature", tmp_path)  # added while `latest` may still wait: it keeps `second`
    assert "beast-16" in _labels(pinned.get(timeout=120))
    kept = latest.get(timeout=120)
    assert "animal-16" in _labels(kept) and kept["model"]["version"] == second.short != third.short
    assert "creature-16" in _labels(classify.delay(dog, model="beasts").get(timeout=120))


def test_a_removed_model_is_answered_with_an_error_and_the_worker_carries_on(
        cloud_worker, dog: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = add_renamed("gone", "gone", tmp_path)
    ref = store.pin("gone", get_settings())  # sent before the removal: pinned to its version
    store.remove(manifest, get_settings())
    document = classify.delay(dog, model=ref).get(timeout=60)
    assert document["status"] == "error" and document["error_kind"] == "model_unavailable"
    assert f"gone@{manifest.short} is not in the repository" in document["error"]
    assert {"dog"} <= _labels(classify.delay(dog).get(timeout=60)) and cloud_worker.alive()


def test_a_model_that_does_not_exist_is_refused_when_sent(emulator: str, dog: str) -> None:
    with pytest.raises(store.NotFound, match="no model 'nothing-here' in the repository"):
        classify.delay(dog, model="nothing-here")
    with pytest.raises(store.NotFound, match="is not a model IRS accepts"):
        classify.delay(dog, model="../etc")


def test_irs_classify_takes_a_model(cloud_worker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    add_renamed("cli-things", "cli", tmp_path)
    run = subprocess.run([sys.executable, "-m", "irs.cli", "classify", "--json", "--model", "cli-things",
                          str(IMAGES / "dog.jpg")], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, run.stderr
    (document,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert "cli-16" in _labels(document) and document["model"]["name"] == "cli-things"
    refused = subprocess.run([sys.executable, "-m", "irs.cli", "classify", "--model", "no-such-model",
                              str(IMAGES / "dog.jpg")], cwd=ROOT, env=dict(os.environ), capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "no model 'no-such-model' in the repository" in refused.stderr
