"""The admission check: every message IRS makes is admitted; nothing else is, and each refusal says why."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.broker import poison


@given(poison.valid)
@settings(max_examples=100, deadline=None)
def test_every_message_irs_makes_is_admitted(message: str) -> None:
    assert poison.refusal(message, task_queue=True) is None


@given(poison.poison)
@settings(max_examples=200, deadline=None)
def test_no_other_message_reaches_a_task_queue_and_none_raises(message: str) -> None:
    reason = poison.refusal(message, task_queue=True)
    assert isinstance(reason, str) and reason


@given(st.one_of(poison.raw, poison.wrong_top, poison.wrong_field))
@settings(max_examples=100, deadline=None)
def test_control_and_event_queues_take_only_kombu_envelopes(message: str) -> None:
    assert poison.refusal(message, task_queue=False)


@pytest.mark.parametrize(("message", "says"), poison.corpus_with_template(),
                         ids=lambda value: value[:40] if isinstance(value, str) else None)
def test_known_shapes_are_refused_with_a_specific_reason(message: str, says: str) -> None:
    reason = poison.refusal(message, task_queue=True)
    assert reason is not None and says in reason, reason


def test_a_task_message_is_still_a_kombu_envelope_on_a_control_queue() -> None:
    assert poison.refusal(poison.text(poison.template()), task_queue=False) is None


@pytest.mark.parametrize("model", ["yolo-fastest-1.1", "team-parts", "team-parts@1a2b", "team.parts@" + "f" * 64])
def test_a_task_may_name_a_model_as_its_second_argument_or_by_keyword(model: str) -> None:
    assert poison.refusal(poison._body(["uploads/a/dog.jpg", model]), task_queue=True) is None
    assert poison.refusal(poison._body(["uploads/a/dog.jpg"], {"model": model}), task_queue=True) is None
    assert poison.refusal(poison._body([], {"image_key": "uploads/a/dog.jpg", "model": model}), task_queue=True) is None


def test_a_retry_as_celery_sends_it_is_admitted_and_one_held_past_the_time_limit_is_not() -> None:
    """A retry's backoff travels as ``eta``: a few seconds ahead is a retry, past the time limit is a stall."""
    from datetime import UTC, datetime, timedelta

    for ahead_s, admitted in ((30, True), (3600, False)):
        eta = (datetime.now(UTC) + timedelta(seconds=ahead_s)).isoformat()
        message = poison._replace(("headers", "eta"), eta)
        assert (poison.refusal(message) is None) is admitted, poison.refusal(message)


def test_a_retry_that_celery_itself_sends_from_a_worker_is_admitted() -> None:
    """Celery's ``Task.retry`` adds the worker's name as the ``origin`` property, which no first send carries: a
    check that refused it dead-lettered every retry, and nobody was answered."""
    message = poison.retried(countdown=2)
    assert message["headers"]["retries"] == 1 and message["properties"]["origin"], message
    assert poison.refusal(poison.text(message)) is None, poison.refusal(poison.text(message))


def test_a_request_with_a_deadline_as_celery_sends_it_is_admitted() -> None:
    """``expires`` travels as an ISO 8601 header, and kombu adds the same as a TTL property (SQS ignores it)."""
    from kombu import Connection

    from irs.tasks import classify

    with Connection("memory://") as connection:
        with connection.Producer() as producer:
            classify.apply_async(("uploads/a/dog.jpg",), producer=producer, queue="cloud", expires=90.0)
        message = connection.default_channel.queues["cloud"].get()
    assert message["headers"]["expires"] and message["properties"]["expiration"] == "90000"
    assert poison.refusal(poison.text(message)) is None
    message["properties"]["expiration"] = "soon"
    assert "properties.expiration" in (poison.refusal(poison.text(message)) or "")


@pytest.mark.parametrize(("sent", "kept"), [("My dog.jpg", "My dog.jpg"), ("C:\\Users\\ann\\dog.jpg", "dog.jpg"),
                                            ("../../etc/passwd", "passwd"), ("bell\a\n.jpg", "bell.jpg"),
                                            ("/", None), ("x" * 300 + ".jpg", "x" * 255)])
def test_an_uploaded_files_name_is_kept_as_a_label_the_admission_check_admits(sent: str, kept: str | None) -> None:
    from irs.contract import clean_filename

    assert clean_filename(sent) == kept
    if kept is not None:
        assert poison.refusal(poison._replace(("headers", "irs_filename"), kept), task_queue=True) is None
