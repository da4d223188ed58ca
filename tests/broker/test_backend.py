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


def test_every_error_answer_names_its_requests_owner_so_usage_counts_it_and_erasure_finds_it() -> None:
    from celery.app.task import Context
    from celery.exceptions import TaskRevokedError

    from irs.broker import backend, envelope
    from irs.contract import FILENAME, OWNER
    from irs.results import ResultDocument
    from tests.broker import poison

    def answer(task_id: str) -> ResultDocument:
        found = documents.get(result_key(task_id))
        return ResultDocument.model_validate(found)

    request = Context({"id": "x", OWNER: "team-a", FILENAME: "My dog.jpg"})
    failed, expired, dead = (new_task_id(f"uploads/a/{name}.jpg") for name in ("failed", "expired", "dead"))
    app.backend.store_result(failed, RuntimeError("boom"), "FAILURE", request=request)
    app.backend.store_result(expired, TaskRevokedError(backend.EXPIRED_REASON), "REVOKED", request=request)
    message = poison.text(poison.template())
    assert envelope.owner_named(message) == "team-a"
    assert envelope.owner_named(poison._replace(("headers", "irs_owner"), "../x")) is None
    backend.answer_dead_letter(dead, "refused", envelope.owner_named(message))
    assert (answer(failed).owner, answer(failed).filename, answer(failed).error_kind) == \
        ("team-a", "My dog.jpg", "task_failed")
    assert (answer(expired).owner, answer(expired).error_kind) == ("team-a", "expired")
    assert answer(dead).owner == "team-a" and answer(dead).error_kind == "dead_lettered"
