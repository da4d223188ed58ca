"""What a web process's feed queue may carry: S3 notices of new result documents, and nothing it cannot drop."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.broker import poison
from webapp.feed import _keys


def notice(*keys: str, event: str = "ObjectCreated:Put") -> str:
    return json.dumps({"Records": [{"eventName": event, "s3": {"object": {"key": key}}} for key in keys]})


def test_a_notice_names_the_new_documents() -> None:
    assert _keys(notice("results/uploads/a%2Fb/dog.jpg/x.json")) == (["results/uploads/a/b/dog.jpg/x.json"], [])
    assert _keys(notice("results/x.json", event="ObjectRemoved:Delete")) == ([], ["results/x.json"])  # erased
    assert _keys(json.dumps({"Event": "s3:TestEvent"})) == ([], [])  # sent once when the notification is set up


@given(st.one_of(poison.raw, poison.wrong_top, st.just("[" * 60_000 + "]" * 60_000)))
@settings(max_examples=100, deadline=None)
def test_anything_else_is_dropped_without_raising(body: str) -> None:
    keys = _keys(body)
    assert keys is None or keys == ([], [])


def test_a_foreign_object_is_not_a_notice_with_no_records() -> None:
    assert _keys('{"properties": 1}') is None and _keys('{"hello": "a foreign JSON message"}') is None
