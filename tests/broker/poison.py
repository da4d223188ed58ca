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
                                 headers={"irs_upload_ms": 3.5, "irs_owner": "team-a", "irs_filename": "My dog.jpg"})
        message: dict[str, Any] = connection.default_channel.queues["cloud"].get()
    return message


def retried(countdown: float) -> dict[str, Any]:
    """The template's request as Celery's own ``Task.retry`` sends it again from a worker (through the memory
    transport): with ``retries``, an ``eta`` and the worker's name as ``origin``, in the headers and properties."""
    from kombu import Connection

    from irs.tasks import classify

    sent = template()
    args, kwargs, _ = json.loads(base64.b64decode(sent["body"]))
    request = {**sent["headers"], "args": args, "kwargs": kwargs, "hostname": "celery@worker-1",
               "delivery_info": {"exchange": "", "routing_key": "cloud"}, "called_directly": False,
               "reply_to": sent["properties"].get("reply_to"), "correlation_id": sent["properties"]["correlation_id"]}
    with Connection("memory://") as connection:
        with connection.Producer() as producer:
            classify.push_request(**request)
            try:
                classify.retry(exc=OSError("S3 out of reach"), countdown=countdown, throw=False, producer=producer)
            finally:
                classify.pop_request()
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


def refusal(message: str, task_queue: bool = True) -> str | None:
    """The admission check's reason for ``message``, under this run's settings."""
    from irs.broker import envelope
    from irs.settings import get_settings

    return envelope.refusal(message, task_queue=task_queue, time_limit_s=get_settings().task_time_limit)


def refusal_on_receipt(body: str) -> str | None:
    """The reason a worker gives for the SQS message body ``body``: kombu's SQS channel first decodes a body
    that looks like base64 (``4621`` is the text of three bytes, not the number), then IRS checks it."""
    from kombu.transport.SQS import Channel
    from kombu.utils.encoding import bytes_to_str

    channel = Channel.__new__(Channel)  # the decoding needs none of a channel's connection
    return refusal(bytes_to_str(channel._decode_python_message_body(body)), task_queue=True)


valid_keys = st.builds(lambda parts: "uploads/" + "/".join(parts), st.lists(KEY_TEXT, min_size=1, max_size=4))
valid = valid_keys.map(lambda key: text(with_key(key)))


def _replace(path: tuple[str, ...], value: Any) -> str:
    message = copy.deepcopy(template())
    target = message
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return text(message)


def _body(args: Any, kwargs: Any = None, embed: Any = None) -> str:
    message = copy.deepcopy(template())
    message["body"] = base64.b64encode(json.dumps([args, kwargs if kwargs is not None else {},
                                                   embed if embed is not None else {}]).encode()).decode()
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
def _admitted_limits(value: Any) -> bool:
    """Whether ``value`` is a time limit pair the check admits: none, or each within the workers' limit (the
    default 60 s), as a retry carries its worker's own."""
    return isinstance(value, list) and len(value) == 2 and all(
        limit is None or (isinstance(limit, int | float) and 0 < limit <= 60) for limit in value)


#: Headers and properties kombu or Celery act on, set to what IRS never sends: each would make the message
#: vanish (decompressed and dropped, revoked, delayed past its visibility, refused by Celery) or run something else.
ACTED_ON = {
    ("headers", "compression"): st.sampled_from(["gzip", "zlib", "application/x-gzip", "bzip2", "lzma", ""])
    | JSON_VALUES,
    ("headers", "eta"): st.just("2099-01-01T00:00:00+00:00") | JSON_VALUES.filter(lambda v: v is not None),
    ("headers", "expires"): st.just("at noon") | JSON_VALUES.filter(lambda v: v is not None and not isinstance(v, str)),
    ("headers", "stamped_headers"): st.just(["revoked"]) | JSON_VALUES.filter(lambda v: v is not None),
    ("headers", "stamps"): st.dictionaries(st.text(min_size=1, max_size=8), JSON_VALUES.filter(lambda v: v is not None),
                                          min_size=1, max_size=3),
    ("headers", "ignore_result"): st.just(True),
    ("headers", "shadow"): st.text(min_size=1, max_size=20),
    ("headers", "group"): st.text(min_size=1, max_size=20),
    ("headers", "lang"): st.text(max_size=5).filter(lambda v: v != "py"),
    ("headers", "timelimit"): st.tuples(st.floats(min_value=61, max_value=1e9), st.none() | st.floats(1, 50)).map(list)
    | JSON_VALUES.filter(lambda v: v is not None and not _admitted_limits(v)),
    ("properties", "priority"): st.integers(min_value=256) | st.text(max_size=5),
    ("properties", "delivery_mode"): st.integers(min_value=3) | st.text(max_size=5),
}
HEADER_NAME = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=20)
wrong_headers = st.one_of(
    *(values.map(lambda v, path=path: _replace(path, v)) for path, values in ACTED_ON.items()),
    st.tuples(HEADER_NAME.filter(lambda name: name not in template()["headers"]), JSON_VALUES)
    .map(lambda pair: _replace(("headers", pair[0]), pair[1])),
    st.tuples(HEADER_NAME.filter(lambda name: name not in template()["properties"]), JSON_VALUES)
    .map(lambda pair: _replace(("properties", pair[0]), pair[1])),
    st.dictionaries(st.sampled_from(["callbacks", "errbacks", "chain", "chord", "link"]),
                    JSON_VALUES.filter(lambda v: v is not None), min_size=1, max_size=2)
    .map(lambda embed: _body(["uploads/a/dog.jpg"], {}, embed)),
)
#: Every generated message that no IRS producer sends.
poison = st.one_of(raw, wrong_top, wrong_field, wrong_task, wrong_headers)

#: Shapes found by hand or by the fuzzer, each with what its reason must say.
CORPUS: list[tuple[str, str]] = [
    ('{"properties": 1}', "properties is an int"),
    ("\x00 not json, not base64 {", "not "),
    ("[" * 60_000 + "]" * 60_000, "nested too deeply"),
    ('{"a":' * 5_000 + "1" + "}" * 5_000, "nested too deeply"),
    (json.dumps({"hello": "a foreign JSON message"}), "not a kombu envelope"),
    ("null", "not a kombu envelope"),
    ('"a string"', "not a kombu envelope"),
    ("4621", "not "),  # JSON, and base64 too: a worker reads the three bytes it decodes to (refusal_on_receipt)
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
        (_body(["../../etc/passwd"]), "the image key is not one IRS accepts"),
        (_replace(("headers", "irs_route"), {"pool": "edge", "reason": "x" * 200_000}), "over the limit"),
        (_replace(("headers", "irs_upload_ms"), "a"), "irs_upload_ms"),
        (_replace(("headers", "irs_owner"), "../other"), "irs_owner"),
        (_replace(("headers", "irs_owner"), "x" * 41), "irs_owner"),
        (_replace(("headers", "irs_owner"), 7), "irs_owner"),
        (_replace(("headers", "irs_filename"), "a/../../b.jpg"), "irs_filename"),
        (_replace(("headers", "irs_filename"), "bell\a.jpg"), "irs_filename"),
        (_replace(("headers", "irs_filename"), "x" * 256), "irs_filename"),
        (_replace(("headers", "compression"), "application/x-gzip"), "compressed body"),
        (_replace(("headers", "compression"), "zlib"), "compressed body"),
        (_replace(("headers", "expires"), "at noon"), "headers.expires is not an ISO 8601 time"),
        (_replace(("headers", "expires"), 1700000000), "headers.expires"),
        (_replace(("headers", "eta"), "2099-01-01T00:00:00+00:00"), "headers.eta puts the task off"),
        (_replace(("headers", "eta"), "tomorrow"), "headers.eta is not an ISO 8601 time"),
        (_replace(("headers", "stamped_headers"), ["x"]), "headers.stamped_headers"),
        (_replace(("headers", "timelimit"), [3600, None]), "headers.timelimit"),
        (_replace(("headers", "x-anything"), 1), "headers.x-anything is not a name IRS sends"),
        (_replace(("properties", "x-anything"), 1), "properties.x-anything is not a name IRS sends"),
        (_body(["uploads/a/dog.jpg"], {}, {"callbacks": [{"task": "celery.backend_cleanup"}]}), "chain other tasks"),
    ]
