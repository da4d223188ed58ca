"""The local emulator holds every queued message and image: no web page, rebinding DNS name or stranger reaches it."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_a_cross_origin_request_is_refused_and_gets_no_cors_header(emulator: str) -> None:
    for method in ("GET", "POST", "OPTIONS"):
        response = httpx.request(method, f"{emulator}/moto-api/data.json", headers={"Origin": "https://evil.example"})
        assert response.status_code == 403 and "access-control-allow-origin" not in response.headers
    response = httpx.post(f"{emulator}/", data={"Action": "ListQueues"}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_only_loopback_host_names_are_answered(emulator: str) -> None:
    assert httpx.get(f"{emulator}/_irs/requests", headers={"Host": "attacker.example:4566"}).status_code == 403
    assert httpx.get(f"{emulator}/_irs/requests").status_code == 200


def test_moto_api_needs_irs_tooling_token(emulator: str) -> None:
    assert httpx.get(f"{emulator}/moto-api/data.json").status_code == 403
    assert httpx.post(f"{emulator}/moto-api/reset").status_code == 403
    from tests.conftest import EMULATOR_TOKEN

    assert httpx.get(f"{emulator}/moto-api/data.json", headers={"X-IRS-Emulator-Token": EMULATOR_TOKEN}
                     ).status_code == 200
