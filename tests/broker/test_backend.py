"""A result document is written once: nothing replaces it, neither a redelivery nor a forged message."""

from __future__ import annotations

import json

import pytest

from irs.aws import documents
from irs.broker.app import app
from irs.results import new_task_id, result_key

pytestmark = pytest.mark.usefixtures("mocked_aws")


def test_the_first_document_written_for_a_request_is_the_one_that_stays() -> None:
    task_id = new_task_id("uploads/a/dog.jpg")
    key = result_key(task_id)
    app.backend.set(key, json.dumps({"task_id": task_id, "summary": "dog.jpg: dog"}))
    app.backend.set(key, json.dumps({"task_id": task_id, "summary": "dog.jpg: eagle"}))  # a forgery, or a rerun
    assert documents.get(key) == {"task_id": task_id, "summary": "dog.jpg: dog"}


def test_create_says_whether_it_wrote() -> None:
    assert documents.create("results/x/1.json", "{}") is True
    assert documents.create("results/x/1.json", "[]") is False
    assert documents.get("results/x/1.json") == {}
