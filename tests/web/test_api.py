"""The REST API against the real app, the emulator and real workers: upload, wait, list, health, shed load."""

from __future__ import annotations

import time
from functools import cache

import pytest

from irs.aws import clients
from irs.settings import get_settings
from irs.tasks import classify
from tests import images
from tests.conftest import IMAGES, wait_until


@cache
def dog() -> bytes:
    """Read when a test runs, not when the module is collected (the fast tier has no shared photos)."""
    return (IMAGES / "dog.jpg").read_bytes()


def web_uploads() -> int:
    listing = clients.client("s3").list_objects_v2(Bucket=get_settings().input_bucket, Prefix="uploads/web/")
    return len(listing.get("Contents", ()))


def emulator_requests(endpoint: str, by: str = "operation") -> dict[str, int]:
    import httpx

    return httpx.get(f"{endpoint}/_irs/requests", params={"by": by}).json()


def test_an_uploaded_image_gets_a_request_id_and_its_result_arrives_pushed(web, emulator) -> None:  # type: ignore[no-untyped-def]
    with web.client() as client:
        response = client.post("/api/v1/images", files=[("files", ("my dog.jpg", dog(), "image/jpeg"))])
        assert response.status_code == 202, response.text
        (request,) = response.json()["requests"]
        assert request["filename"] == "my dog.jpg" and request["format"] == "jpeg"
        assert request["image_key"].startswith("uploads/web/") and "dog" not in request["image_key"]
        document = client.get(request["result_url"], params={"wait": 30}).json()
    assert document["status"] == "ok" and document["task_id"] == request["request_id"]
    assert "dog" in {d["label"] for d in document["detections"]}
    assert document["pool"] == "cloud" and document["routing"]["pool"] == "cloud"


def test_waiting_for_a_result_does_not_poll_s3(web, emulator) -> None:  # type: ignore[no-untyped-def]
    import httpx

    httpx.delete(f"{emulator}/_irs/requests")
    with web.client() as client:
        request = client.post("/api/v1/images", files=[("files", ("a.jpg", dog(), "image/jpeg"))]).json()["requests"][0]
        client.get(request["result_url"], params={"wait": 30}).raise_for_status()
    counts = emulator_requests(emulator, by="prefix")
    results = get_settings().results_bucket
    assert counts.get(f"PUT {results}/results/", 0) == 1, counts  # the counter saw this request's document
    # The web tier looks once when the wait starts and reads the document once when the bucket's
    # notice arrives: never a GET per poll interval.
    assert counts.get(f"GET {results}/results/", 0) <= 2, counts


def test_many_images_in_one_request_each_get_their_own_result(web) -> None:  # type: ignore[no-untyped-def]
    names = ["dog.jpg", "eagle.jpg", "giraffe.jpg"]
    files = [("files", (name, (IMAGES / name).read_bytes(), "image/jpeg")) for name in names]
    with web.client() as client:
        requests = client.post("/api/v1/images", files=files).json()["requests"]
        documents = [client.get(r["result_url"], params={"wait": 30}).json() for r in requests]
    assert [r["filename"] for r in requests] == names
    assert [d["status"] for d in documents] == ["ok"] * 3
    assert "giraffe" in {d["label"] for d in documents[2]["detections"]}


def test_results_can_be_listed_and_searched_by_label(web) -> None:  # type: ignore[no-untyped-def]
    with web.client() as client:
        request = client.post("/api/v1/images", files=[("files", ("eagle.jpg", (IMAGES / "eagle.jpg").read_bytes(),
                                                                   "image/jpeg"))]).json()["requests"][0]
        client.get(request["result_url"], params={"wait": 30}).raise_for_status()
        birds = client.get("/api/v1/results", params={"label": "bird"}).json()["results"]
        assert request["request_id"] in [d["task_id"] for d in birds]
        assert all("bird" in {x["label"] for x in d["detections"]} for d in birds)
        assert client.get("/api/v1/results", params={"label": "no-such-label"}).json()["results"] == []
        image = client.get(f"/api/v1/images/{request['image_key']}")
        assert image.status_code == 200 and image.content == (IMAGES / "eagle.jpg").read_bytes()


def test_an_unknown_request_is_404_after_its_wait_and_a_foreign_id_at_once(web) -> None:  # type: ignore[no-untyped-def]
    with web.client() as client:
        begin = time.monotonic()
        missing = client.get("/api/v1/results/" + "0" * 32 + ":uploads/web/none.jpg", params={"wait": 1})
        assert missing.status_code == 404 and "no result" in missing.json()["detail"]
        assert time.monotonic() - begin >= 1
        assert client.get("/api/v1/results/not-an-id").status_code == 404


def test_health_reports_live_and_ready(web) -> None:  # type: ignore[no-untyped-def]
    with web.client() as client:
        assert client.get("/health/live").json() == {"status": "live"}
        ready = client.get("/health/ready").json()
        assert ready["status"] == "ready"
        assert set(ready["checks"]) == {"broker", "uploads", "results", "results_feed", "status_sampler"}


def test_a_web_server_that_cannot_reach_aws_is_live_but_not_ready(web_server) -> None:  # type: ignore[no-untyped-def]
    server = web_server("unreachable", ready=False, IRS_ENDPOINT_URL="http://127.0.0.1:9")  # nothing listens
    with server.client() as client:
        assert client.get("/health/live").status_code == 200
        not_ready = client.get("/health/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["broker"] is False and not_ready.json()["checks"]["uploads"] is False


@pytest.mark.parametrize(("files", "status", "says"), [
    ([("notes.jpg", b"hello, I am text")], 415, "not an image"),
    ([("empty.png", b"")], 415, "empty"),
    ([("anim.gif", images.gif())], 415, "unsupported image format GIF"),
    ([("bomb.png", images.png_claiming(30000, 30000))], 413, "pixels, over the limit"),
    ([("good.png", images.png()), ("bad.jpg", b"nope")], 415, "bad.jpg"),  # all or nothing
    ([(f"{n}.png", images.png()) for n in range(21)], 413, "over the limit of 20 per request"),
], ids=["text", "empty", "gif", "pixel-bomb", "one-bad-of-two", "too-many-files"])
def test_a_bad_upload_gets_a_clear_4xx_and_nothing_is_stored_or_enqueued(web, files, status, says
                                                                         ) -> None:  # type: ignore[no-untyped-def]
    before = web_uploads()
    with web.client() as client:
        response = client.post("/api/v1/images", files=[("files", (name, data, "image/jpeg")) for name, data in files])
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert web_uploads() == before


def test_an_oversized_upload_is_refused_before_it_is_read(web) -> None:  # type: ignore[no-untyped-def]
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    connection.putrequest("POST", "/api/v1/images")
    connection.putheader("Content-Type", "multipart/form-data; boundary=x")
    connection.putheader("Content-Length", str(10**10))  # 10 GB announced, 100 bytes sent
    connection.endheaders(b"x" * 100)
    response = connection.getresponse()
    assert response.status == 413 and b"over the limit" in response.read()
    connection.close()
    with web.client() as client:
        assert client.post("/api/v1/images", files=[]).status_code in (400, 422)


def test_over_its_backlog_limit_the_api_answers_503_with_retry_after(web_server, emulator) -> None:  # type: ignore[no-untyped-def]
    sqs = clients.client("sqs")
    edge_url = sqs.get_queue_url(QueueName=f"{get_settings().queue_prefix}edge")["QueueUrl"]
    try:
        for _ in range(5):  # work nobody serves: there is no edge worker now
            classify.apply_async(("uploads/none.jpg",), queue="edge")
        server = web_server("busy", IRS_WEB_MAX_BACKLOG="2")
        with server.client() as client:
            wait_until(lambda: client.post("/api/v1/images", files=[("files", ("d.jpg", dog(), "image/jpeg"))]
                                           ).status_code == 503, 15, "the server to see the backlog")
            busy = client.post("/api/v1/images", files=[("files", ("d.jpg", dog(), "image/jpeg"))])
        assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= 1
        assert "over this service's limit of 2" in busy.json()["detail"]
    finally:
        sqs.purge_queue(QueueUrl=edge_url)


def test_past_results_are_listed_by_a_web_server_started_after_them(web, web_server) -> None:  # type: ignore[no-untyped-def]
    with web.client() as client:
        request = client.post("/api/v1/images", files=[("files", ("dog.jpg", dog(), "image/jpeg"))]
                              ).json()["requests"][0]
        client.get(request["result_url"], params={"wait": 30}).raise_for_status()
    with web_server("restarted").client() as client:
        listed = client.get("/api/v1/results", params={"label": "dog"}).json()["results"]
    assert request["request_id"] in [d["task_id"] for d in listed]


def test_metrics_show_the_queues_and_routing_and_leave_results_to_the_workers(web) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client.parser import text_string_to_metric_families

    with web.client() as client:
        def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            text = client.get("/metrics/").text
            return {(s.name, tuple(sorted(s.labels.items()))): s.value
                    for family in text_string_to_metric_families(text) for s in family.samples}

        request = client.post("/api/v1/images", files=[("files", ("dog.jpg", dog(), "image/jpeg"))]
                              ).json()["requests"][0]
        client.get(request["result_url"], params={"wait": 30}).raise_for_status()
        waiting = ("irs_queue_messages", (("pool", "cloud"), ("state", "waiting")))
        wait_until(lambda: waiting in samples(), 30, "a status sample")
        found = samples()
    assert any(name == "irs_route_decisions_total" and dict(labels).get("cause") and value >= 1
               for (name, labels), value in found.items())
    # Every replica hears every result: a result is counted once, by the worker that wrote it, not here.
    assert not any(name.startswith(("irs_results", "irs_stage")) for name, _ in found)
