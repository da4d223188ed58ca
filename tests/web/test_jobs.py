"""Jobs over the REST API: read only, as the last look at each tallied it."""

from __future__ import annotations

from irs.aws import clients
from irs.jobs import progress
from irs.jobs.run import start
from tests.conftest import IMAGES, SOURCE_BUCKET, wait_until


def test_the_api_lists_jobs_and_shows_one_as_its_last_tally_has_it(web) -> None:  # type: ignore[no-untyped-def]
    s3 = clients.client("s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    for name in ("dog.jpg", "eagle.jpg", "notes.txt"):
        s3.put_object(Bucket=SOURCE_BUCKET, Key=f"web-job/{name}", Body=(IMAGES / "dog.jpg").read_bytes())
    start(f"s3://{SOURCE_BUCKET}/web-job/", name="web-job")
    with web.client() as client:
        sent = client.get("/api/v1/jobs/web-job").json()
        assert (sent["enqueued"], sent["skipped"], sent["state"]) == (2, {"not an image": 1}, "enqueued")
        wait_until(lambda: progress.measure("web-job").complete, 60, "the job's documents")  # as irs job does
        shown = client.get("/api/v1/jobs/web-job").json()
        listed = client.get("/api/v1/jobs").json()["jobs"]
        missing = client.get("/api/v1/jobs/no-such-job")
        malformed = client.get("/api/v1/jobs/Not_A_Name")
    assert shown["done"] == shown["ok"] == 2 and shown["remaining"] == 0 and shown["finished_at"]
    assert shown["results"].endswith(f"s3://{SOURCE_BUCKET}/web-job/")
    assert "web-job" in {job["name"] for job in listed}
    assert missing.status_code == 404 and "no job named no-such-job" in missing.json()["detail"]
    assert malformed.status_code == 404 and "not a job name" in malformed.json()["detail"]
