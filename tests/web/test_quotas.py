"""Quotas per token: past its own limit an owner gets 429 with Retry-After and its numbers, checked before anything
is stored; another owner at the same moment is served, and nothing but an upload is ever refused by a quota."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from tests.conftest import IMAGES
from tests.web.conftest import WebServer, as_
from webapp import quotas, tokens
from webapp.quotas import Waiting, verdict
from webapp.tokens import Limits


def files(count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"dog-{n}.jpg", (IMAGES / "dog.jpg").read_bytes(), "image/jpeg")) for n in range(count)]


def test_the_limit_an_upload_would_pass_is_named_with_the_owners_numbers() -> None:
    limits = Limits(max_waiting=10, images_per_day=100)
    assert verdict(limits, waiting=8, today=50, asked=2, retry_waiting_s=3, until_tomorrow_s=600) is None
    waiting = verdict(limits, waiting=8, today=50, asked=3, retry_waiting_s=3, until_tomorrow_s=600)
    assert waiting is not None and (waiting.quota, waiting.used, waiting.limit, waiting.retry_after_s) == \
        ("max_waiting", 8, 10, 3)
    daily = verdict(limits, waiting=0, today=99, asked=2, retry_waiting_s=3, until_tomorrow_s=600)
    assert daily is not None and (daily.quota, daily.used, daily.retry_after_s) == ("images_per_day", 99, 600)
    assert verdict(Limits(), waiting=10**6, today=10**9, asked=20, retry_waiting_s=1, until_tomorrow_s=1) is None


def test_retry_after_is_the_time_to_the_next_utc_day_or_to_drain_the_excess() -> None:
    assert quotas.until_tomorrow_s(datetime(2026, 12, 7, 23, 59, 30, tzinfo=UTC)) == 30
    assert quotas.retry_waiting_s(50, images_per_s=10.0) == 5
    assert quotas.retry_waiting_s(50, images_per_s=None) == quotas.RETRY_WAITING_S
    assert quotas.retry_waiting_s(10**6, images_per_s=1.0) == 120


def test_a_process_counts_an_owners_waiting_images_until_each_is_answered_or_forgotten() -> None:
    waiting = Waiting()
    waiting.sent("ann", ["a1", "a2", "a3"], now=0.0)
    waiting.sent("bob", ["b1"], now=0.0)
    waiting.answered("a2")
    waiting.answered("someone-elses")  # the feed hears every result: others' are ignored
    assert (waiting.count("ann", now=1.0), waiting.count("bob", now=1.0)) == (2, 1)
    assert waiting.count("ann", now=quotas.FORGET_S + 1) == 0


@pytest.mark.integration
def test_an_owner_over_its_quota_gets_429_with_its_numbers_while_another_is_accepted(
        secure: WebServer, people: dict[str, str]) -> None:
    name = f"carol-{os.getpid()}"
    carol = tokens.create(name, limits=Limits(images_per_day=3, max_waiting=5))
    with secure.client() as client:
        assert client.post("/api/v1/images", files=files(2), headers=as_(carol)).status_code == 202
        over = client.post("/api/v1/images", files=files(2), headers=as_(carol))
        beside = client.post("/api/v1/images", files=files(2), headers=as_(people["bob"]))
        assert beside.status_code == 202, beside.text
        assert over.status_code == 429 and 0 < int(over.headers["Retry-After"]) <= 86400
        assert over.json()["over"] == {"quota": "images_per_day", "limit": 3, "used": 2, "asked": 2,
                                       "retry_after_s": int(over.headers["Retry-After"])}
        assert f"{name} sent 2 images today" in over.json()["detail"]
        too_many = client.post("/api/v1/images", files=files(6), headers=as_(carol))
        assert too_many.status_code == 429 and too_many.json()["over"]["quota"] == "max_waiting"
        assert client.get("/api/v1/results", headers=as_(carol)).status_code == 200  # never refused by a quota
    assert quotas.accepted_today(name, quotas.today()) == 2  # nothing refused was counted, or stored
    tokens.revoke(name)
