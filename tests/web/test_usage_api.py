"""Usage through the API and the command line: a team sees its own, an admin everyone's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from irs import usage
from tests.conftest import ROOT
from tests.web.conftest import WebServer, as_

pytestmark = pytest.mark.integration


def test_a_team_reads_its_own_usage_and_an_admin_reads_everyones(secure: WebServer,
                                                                   people: dict[str, str]) -> None:
    ann, bob = (f"{name}-{os.getpid()}" for name in ("ann", "bob"))
    today = usage.span(days=1)[0]
    usage.write(today, usage.rows_of([usage.Used(ann, "cloud", "yolo", "ok", 25.0, True)] * 3
                                     + [usage.Used(bob, "edge", "tiny", "corrupt", 1.0, False)], today.isoformat()))
    with secure.client() as client:
        own = client.get("/api/v1/usage", headers=as_(people["ann"])).json()
        every = client.get("/api/v1/usage", params={"days": 7}, headers=as_(people["admin"])).json()
        assert client.get("/api/v1/usage", params={"month": "2026-13"}, headers=as_(people["ann"])).status_code == 422
    assert [(o["owner"], o["images"]) for o in own["owners"]] == [(ann, 3)]
    assert {o["owner"]: o["errors"] for o in every["owners"]}[bob] == {"corrupt": 1}
    run = subprocess.run([sys.executable, "-m", "irs.cli", "usage", "--owner", ann, "--json"], cwd=ROOT,
                         env=os.environ, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert [(row["owner"], row["images"], row["cpu_s"]) for row in json.loads(run.stdout)] == [(ann, 3, 0.075)]
