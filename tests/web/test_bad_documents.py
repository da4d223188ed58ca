"""Fleet reports and autoscaler state that fail validation are skipped: uploads, `irs classify`, the status
page and readiness all keep working while they sit in the bucket."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from irs.aws import documents
from tests.conftest import IMAGES, ROOT, wait_until

BAD = {
    "fleet/edge/zz-bad-slots.json": {"instance_id": "zz-bad-slots", "pool": "edge", "slots": "a"},
    "fleet/cloud/zz-bad-processed.json": {"instance_id": "zz-bad-processed", "pool": "cloud", "processed": "a"},
    "fleet/cloud/zz-not-me.json": {"instance_id": "local-always-on", "pool": "cloud", "always_on": True,
                                   "busy": False, "idle_since": None, "processed": 0, "started_at": 0.0,
                                   "updated_at": time.time(), "slots": 64, "service_ms": 1.0},
    "autoscaler/cloud.json": {"pool": "cloud", "desired": "many"},
    # under the web tier's results, dated today: read by every listener's warm-up, and announced by S3
    f"results/uploads/web/{time.strftime('%Y%m%d')}-000000-bad/local/0000.jpg/{'0' * 32}.json": {
        "status": "ok", "detections": "everything"},
}


@pytest.fixture
def bad_documents(emulator: str) -> Iterator[None]:
    for key, body in BAD.items():
        documents.put(key, body)
    documents.put_body("fleet/edge/zz-deep.json", "[" * 50_000 + "]" * 50_000)
    yield
    for key in [*BAD, "fleet/edge/zz-deep.json"]:
        documents.remove(key)


def test_everything_keeps_working_beside_invalid_documents(bad_documents, web_server, cloud_worker) -> None:  # type: ignore[no-untyped-def]
    server = web_server("beside-bad-documents")
    with server.client() as client:
        started = client.get("/api/v1/status").json()["t"]
        wait_until(lambda: client.get("/api/v1/status").json()["t"] > started, 20, "a new status sample")
        assert client.get("/health/ready").json()["status"] == "ready"
        status = client.get("/api/v1/status").json()
        assert {p["pool"] for p in status["pools"]} == {"cloud", "edge", "jobs"} and status["autoscaler"] is None
        request = client.post("/api/v1/images", files=[("files", ("dog.jpg", (IMAGES / "dog.jpg").read_bytes(),
                                                                   "image/jpeg"))]).json()["requests"][0]
        answer = client.get(request["result_url"], params={"wait": 30}).json()
        assert answer["status"] == "ok" and answer["routing"]["cause"] != "error"
        listed = client.get("/api/v1/results", params={"limit": 500}).json()["results"]
        assert request["request_id"] in {d["task_id"] for d in listed}
        assert all(isinstance(d["detections"], list) for d in listed)  # the invalid one is not among them
    run = subprocess.run([sys.executable, "-m", "irs.cli", "classify", str(IMAGES / "giraffe.jpg")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "giraffe.jpg: giraffe" in run.stdout, run.stderr[-2000:]
