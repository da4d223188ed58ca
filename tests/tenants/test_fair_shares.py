"""Two teams on one IRS, with real workers: while the first floods it (through the REST API, `irs classify` or a
job), each of the second's images waits behind at most the first's burst, not its whole batch; nothing is refused
to the second, and every image of both gets exactly one document."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from irs.results import ResultDocument
from irs.settings import PREFETCH_MULTIPLIER
from tests.conftest import IMAGES, ROOT, SOURCE_BUCKET, Worker, wait_until
from tests.web.conftest import WebServer, as_

pytestmark = pytest.mark.integration
FLOOD, PER_REQUEST, SINGLES, BURST, PROCESSES = 120, 20, 4, 10, 1


@dataclass
class Rig:
    env: dict[str, str]
    web: WebServer
    tokens: dict[str, str]

    def irs(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "irs.cli", *argv], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def documents(self) -> list[ResultDocument]:
        """Every result document in this rig's results bucket."""
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.env["IRS_ENDPOINT_URL"])
        found = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.env["IRS_RESULTS_BUCKET"],
                                                                  Prefix="results/"):
            for item in page.get("Contents", ()):
                body = s3.get_object(Bucket=self.env["IRS_RESULTS_BUCKET"], Key=item["Key"])["Body"].read()
                found.append(ResultDocument.model_validate_json(body))
        return found


@pytest.fixture(scope="module")
def rig(emulator: str) -> Iterator[Rig]:
    """Queues and buckets of its own (no other worker serves them), one cloud worker with one process, and a web
    server that needs tokens, with a token each for ann and bob."""
    own = f"irs-test-fair-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "IRS_QUEUE_PREFIX": f"{own}-", "IRS_INPUT_BUCKET": f"{own}-in",
           "IRS_RESULTS_BUCKET": f"{own}-out", "IRS_FAIR_BURST": str(BURST), "IRS_WEB_AUTH": "true",
           "IRS_WEB_MAX_UPLOADS": "8"}
    env.pop("IRS_ENV_FILE", None)
    provisioned = subprocess.run([sys.executable, "-m", "irs.cli", "provision"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
    assert provisioned.returncode == 0, provisioned.stderr
    worker = Worker(f"fair-{own}", "cloud", concurrency=PROCESSES, extra_env={**env, "IRS_SERVICE_FLOOR_MS": "60"})
    web = WebServer(f"fair-{own}", env)
    try:
        made = {name: subprocess.run([sys.executable, "-m", "irs.cli", "web", "token", "create", name], cwd=ROOT,
                                     env=env, capture_output=True, text=True, timeout=60) for name in ("ann", "bob")}
        assert all(m.returncode == 0 for m in made.values()), [m.stderr for m in made.values()]
        yield Rig(env, web, {name: m.stdout.strip() for name, m in made.items()})
    finally:
        web.stop()
        worker.stop()


def post(rig: Rig, owner: str, names: list[str]) -> list[str]:
    """Upload ``names`` (sample photos) as ``owner`` in one request; their request ids."""
    files = [("files", (name, (IMAGES / name).read_bytes(), "image/jpeg")) for name in names]
    with httpx.Client(base_url=rig.web.url, timeout=120) as client:
        answer = client.post("/api/v1/images", files=files, headers=as_(rig.tokens[owner]))
    assert answer.status_code == 202, answer.text
    return [r["request_id"] for r in answer.json()["requests"]]


def flood_by_api(rig: Rig, tmp_path: Path) -> None:
    photos = sorted(p.name for p in IMAGES.glob("*.jpg"))
    batches = [[photos[(n + k) % len(photos)] for k in range(PER_REQUEST)] for n in range(0, FLOOD, PER_REQUEST)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda names: post(rig, "ann", names), batches))


def flood_by_classify(rig: Rig, tmp_path: Path) -> None:
    photo = (IMAGES / "dog.jpg").read_bytes()
    for n in range(FLOOD):
        (tmp_path / f"ann-{n:03d}.jpg").write_bytes(photo)
    sent = rig.irs("classify", "--owner", "ann", str(tmp_path))
    assert sent.returncode == 0, sent.stderr[-2000:]


def flood_by_job(rig: Rig, tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=rig.env["IRS_ENDPOINT_URL"])
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    prefix = f"fair-{uuid.uuid4().hex[:6]}/"
    photo = (IMAGES / "dog.jpg").read_bytes()
    for n in range(FLOOD):
        s3.put_object(Bucket=SOURCE_BUCKET, Key=f"{prefix}{n:03d}.jpg", Body=photo)
    sent = rig.irs("job", "start", f"s3://{SOURCE_BUCKET}/{prefix}", "--yes", "--owner", "ann")
    assert sent.returncode == 0, sent.stderr[-2000:]


def instant(stamp: str | None) -> float:
    assert stamp is not None
    return datetime.fromisoformat(stamp).timestamp()


@pytest.mark.parametrize("flood", [flood_by_api, flood_by_classify, flood_by_job], ids=["api", "classify", "job"])
def test_a_second_owners_images_wait_behind_at_most_the_first_owners_burst(
        rig: Rig, tmp_path: Path, flood: Callable[[Rig, Path], None]) -> None:
    before = {d.task_id for d in rig.documents()}
    flooding = threading.Thread(target=flood, args=(rig, tmp_path))
    flooding.start()
    wait_until(lambda: sum(d.owner == "ann" for d in rig.documents() if d.task_id not in before) >= 3, 120,
               "the first owner's flood to be served")
    singles = [post(rig, "bob", ["giraffe.jpg"])[0] for _ in range(SINGLES)]  # nothing refused: each is 202
    with httpx.Client(base_url=rig.web.url, timeout=120) as client:
        for request_id in singles:
            answer = client.get(f"/api/v1/results/{request_id}", params={"wait": 60}, headers=as_(rig.tokens["bob"]))
            assert answer.status_code == 200 and answer.json()["status"] == "ok", answer.text
    flooding.join(300)
    wait_until(lambda: sum(d.task_id not in before for d in rig.documents()) >= FLOOD + SINGLES, 300,
               "every image's document")

    found = [d for d in rig.documents() if d.task_id not in before]
    assert Counter(d.owner for d in found) == {"ann": FLOOD, "bob": SINGLES}
    assert max(Counter(d.image_key for d in found).values()) == 1  # each image answered once
    assert all(d.status == "ok" for d in found)
    ann = [d for d in found if d.owner == "ann"]
    assert any(d.routing and d.routing.pool == "jobs" for d in ann)  # the flood did go to the later lane
    for single in (d for d in found if d.owner == "bob"):
        assert single.filename == "giraffe.jpg" and single.routing and single.routing.pool == "cloud"
        sent, started = instant(single.submitted_at), instant(single.started_at)
        ahead = sum(sent < instant(d.started_at) < started for d in ann)
        # Behind it: what was left of the first owner's burst, and what the worker already held of the later lane.
        assert ahead <= BURST + PREFETCH_MULTIPLIER * PROCESSES, (ahead, single.task_id)
