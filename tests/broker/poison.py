"""Messages no IRS producer sends, generated at every level of the envelope; and the messages IRS does send.

Shared by the pure test of the admission check and the test that sends them to real workers.
"""

from __future__ import annotations

import base64
import copy
import json
from functools import cache
from typing import Any

from hypothesis import strategies as st

# What an SQS message body may hold (XML 1.0 characters), so that SQS itself takes every generated body.
SQS_TEXT = st.characters(codec="utf-8", exclude_categories=("Cs",),
                         exclude_characters=[chr(c) for c in range(0x20) if c not in (0x9, 0xA, 0xD)] + ["\ufffe",
                                                                                                          "\uffff"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
NOT_A_DICT = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) \
    | st.lists(JSON_VALUES, max_size=3)
#: How many poison messages real workers were sent in this run (the closing line of the run reports it).
SENT: dict[str, int] = {"generated": 0, "corpus": 0}

KEY_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e, exclude_characters="/\\"),
                   min_size=1, max_size=30).filter(lambda part: part not in (".", ".."))


@cache
def template() -> dict[str, Any]:
    """A real classify message, as kombu puts it on SQS (made through the memory transport: no broker)."""
    from kombu import Connection

    from irs.tasks import classify

    with Connection("memory://") as connection:
        with connection.Producer() as producer:
            classify.apply_async(("uploads/a/dog.jpg",), producer=producer, queue="cloud",
                                 headers={"irs_upload_ms": 3.5})
        message: dict[str, Any] = connection.default_channel.queues["cloud"].get()
    return message


def with_key(key: str, id_key: str | None = None) -> dict[str, Any]:
    """The template for ``key`` (its task id naming ``id_key``, the same key unless given)."""
    message = copy.deepcopy(template())
    body = json.loads(base64.b64decode(message["body"]))
    body[0] = [key]
    message["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    head = message["headers"]["id"].split(":", 1)[0]
    message["headers"]["id"] = message["headers"]["root_id"] = message["properties"]["correlation_id"] = \
        f"{head}:{id_key if id_key is not None else key}"
    return message


def text(message: Any) -> str:
    return json.dumps(message)


valid_keys = st.builds(lambda parts: "uploads/" + "/".join(parts), st.lists(KEY_TEXT, min_size=1, max_size=4))
valid = valid_keys.map(lambda key: text(with_key(key)))


def _replace(path: tuple[str, ...], value: Any) -> str:
    message = copy.deepcopy(template())
    target = message
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return text(message)


def _body(args: Any, kwargs: Any = None) -> str:
    message = copy.deepcopy(template())
    message["body"] = base64.b64encode(json.dumps([args, kwargs if kwargs is not None else {}, {}]).encode()).decode()
    return text(message)


raw = st.text(SQS_TEXT, min_size=1, max_size=200)  # mostly not JSON at all (SQS takes no empty message)
wrong_top = st.one_of(NOT_A_DICT.filter(lambda v: v != ""),
                      st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5)).map(json.dumps)
wrong_field = st.one_of(
    NOT_A_DICT.map(lambda v: _replace(("properties",), v)),
    NOT_A_DICT.filter(lambda v: not isinstance(v, list)).map(lambda v: _replace(("properties", "delivery_info"), v)),
    NOT_A_DICT.map(lambda v: _replace(("headers",), v)),
    JSON_VALUES.filter(lambda v: v not in ("base64", None)).map(lambda v: _replace(("properties", "body_encoding"), v)),
    NOT_A_DICT.filter(lambda v: not isinstance(v, str)).map(lambda v: _replace(("body",), v)),
    st.text(max_size=40).map(lambda v: _replace(("body",), v)),
    JSON_VALUES.filter(lambda v: v != "application/json").map(lambda v: _replace(("content-type",), v)),
    JSON_VALUES.filter(lambda v: v != "utf-8").map(lambda v: _replace(("content-encoding",), v)),
)
wrong_task = st.one_of(
    st.text(max_size=60).filter(lambda name: name != "irs.tasks.classify")
    .map(lambda v: _replace(("headers", "task"), v)),
    JSON_VALUES.map(lambda v: _replace(("headers", "id"), v)),
    st.tuples(valid_keys, valid_keys).filter(lambda pair: pair[0] != pair[1])
    .map(lambda pair: text(with_key(pair[0], id_key=pair[1]))),
    st.lists(JSON_VALUES, max_size=3).filter(lambda args: len(args) != 1 or not isinstance(args[0], str))
    .map(_body),
    JSON_VALUES.filter(lambda v: not isinstance(v, list)).map(_body),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "image_key"), JSON_VALUES, min_size=1, max_size=3)
    .map(lambda kwargs: _body([], kwargs)),
    JSON_VALUES.filter(lambda v: not isinstance(v, dict) and v is not None)
    .map(lambda v: _replace(("headers", "irs_route"), v)),
    st.one_of(st.text(max_size=10), st.floats(min_value=4e6, allow_nan=False), st.integers(max_value=-1))
    .map(lambda v: _replace(("headers", "irs_upload_ms"), v)),
    st.just(_replace(("headers", "padding"), "x" * 20_000)),
)
#: Every generated message that no IRS producer sends.
poison = st.one_of(raw, wrong_top, wrong_field, wrong_task)

#: Shapes found by hand or by the fuzzer, each with what its reason must say.
CORPUS: list[tuple[str, str]] = [
    ('{"properties": 1}', "properties is an int"),
    ("\x00 not json, not base64 {", "not "),
    ("[" * 60_000 + "]" * 60_000, "nested too deeply"),
    ('{"a":' * 5_000 + "1" + "}" * 5_000, "nested too deeply"),
    (json.dumps({"hello": "a foreign JSON message"}), "not a kombu envelope"),
    ("null", "not a kombu envelope"),
    ('"a string"', "not a kombu envelope"),
]


def corpus_with_template() -> list[tuple[str, str]]:
    """The corpus, plus shapes that need a real message to start from."""
    return CORPUS + [
        (_replace(("headers", "task"), "irs.tasks.x"), "unknown task irs.tasks.x"),
        (text(with_key("uploads/a/dog.jpg", id_key="uploads/b/cat.jpg")), "task id does not match the image key"),
        (_replace(("content-type",), "application/x-python-serialize"), "content-type"),
        (_replace(("headers", "id"), "my-own-id"), "task id is not one IRS makes"),
        (_body([1, 2, 3]), "classify takes the image key and, optionally, a model"),
        (_body(["uploads/a/dog.jpg", "team/../x"]), "the model is not one IRS accepts"),
        (_body(["uploads/a/dog.jpg"], {"model": "Team"}), "the model is not one IRS accepts"),
        (_body(["uploads/a/dog.jpg"], {"image_key": "uploads/a/dog.jpg"}), "classify takes the image key"),
        (_body(["../../etc/passwd"]), "not an S3 key IRS accepts"),
        (_replace(("headers", "irs_route"), {"pool": "edge", "reason": "x" * 200_000}), "over the limit"),
        (_replace(("headers", "irs_upload_ms"), "a"), "irs_upload_ms"),
    ]
