"""Workers report their state, drain on request without swallowing a message, and stop themselves when idle."""

from __future__ import annotations

import os
import signal

from irs.fleet import reports
from irs.tasks import classify
from tests.conftest import Worker, wait_until
from tests.helpers.ports import free_port


def test_a_worker_reports_itself_and_removes_its_report_when_it_stops(emulator) -> None:  # type: ignore[no-untyped-def]
    worker = Worker("report", "edge", concurrency=1, extra_env={"IRS_INSTANCE_ID": "i-report"})
    try:
        wait_until(lambda: "i-report" in reports.read("edge"), 20, "the worker's fleet report")
        report = reports.read("edge")["i-report"]
        assert not report.busy and not report.draining and report.pool == "edge"
    finally:
        worker.stop()
    assert "i-report" not in reports.read("edge")


def test_a_drained_worker_releases_what_its_last_long_poll_received(emulator, upload, photo) -> None:  # type: ignore[no-untyped-def]
    # A long receive, as in production, so that the request lands in it while the worker drains.
    draining = Worker("drain", "edge", concurrency=1, extra_env={"IRS_INSTANCE_ID": "i-drain",
                                                                  "IRS_SQS_WAIT_TIME_S": "10"})
    try:
        key = upload(photo("dog.jpg"), "dog.jpg")
        # Its first report is written after its consumer started: its long poll now waits on the empty queue.
        wait_until(lambda: "i-drain" in reports.read("edge"), 20, "the worker to consume")
        os.kill(draining.process.pid, signal.SIGTERM)
        wait_until(lambda: "Canceling queue edge" in draining.text(), 10, "the drain to begin")
        result = classify.apply_async((key,), queue="edge")  # lands in the poll that is still open
        assert draining.process.wait(40) == 0, draining.text()[-2000:]
        assert f"[{result.id}] received" not in draining.text()
    finally:
        draining.stop()
    # Had the message gone to a poll nobody reads, it would stay invisible for the visibility timeout.
    successor = Worker("successor", "edge", concurrency=1)
    try:
        document = result.get(timeout=30)
        assert document["status"] == "ok" and document["worker"].startswith("successor@")
    finally:
        successor.stop()


def test_an_ephemeral_worker_stops_itself_once_idle_and_the_always_on_one_does_not(emulator) -> None:  # type: ignore[no-untyped-def]
    ephemeral = Worker("ephemeral", "edge", concurrency=1, extra_env={"IRS_IDLE_SHUTDOWN_S": "2"})
    always_on = Worker("always", "edge", concurrency=1, extra_env={"IRS_IDLE_SHUTDOWN_S": "2", "IRS_ALWAYS_ON": "1"})
    try:
        assert ephemeral.process.wait(45) == 0
        assert "idle for" in ephemeral.text() and "drained" in ephemeral.text()
        assert always_on.alive()
    finally:
        ephemeral.stop()
        always_on.stop()


class _MetadataService:
    """A stand-in for EC2's instance metadata service (IMDSv2), on loopback: none can run here."""

    def __init__(self) -> None:
        import http.server
        import threading

        service = self
        self.drain_tag: str | None = None
        self.asked = 0  # how often a worker asked for its tags

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - the http.server API
                ok = self.path == "/latest/api/token" and "X-aws-ec2-metadata-token-ttl-seconds" in self.headers
                self._answer(200 if ok else 400, b"token-123")

            def do_GET(self) -> None:  # noqa: N802
                if self.headers.get("X-aws-ec2-metadata-token") != "token-123":
                    self._answer(401, b"")
                elif self.path == "/latest/meta-data/tags/instance/irs-drain":
                    service.asked += 1
                    self._answer(*((200, service.drain_tag.encode()) if service.drain_tag else (404, b"")))
                else:
                    self._answer(404, b"")

            def _answer(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_an_ec2_worker_drains_when_its_instance_is_tagged_irs_drain(emulator) -> None:  # type: ignore[no-untyped-def]
    metadata = _MetadataService()
    worker = Worker("tagged", "edge", concurrency=1, extra_env={"IRS_IMDS_URL": metadata.url})
    try:
        wait_until(lambda: metadata.asked >= 1, 20, "the worker to ask for its tags")
        assert worker.alive()  # it found no tag
        metadata.drain_tag = "requested"  # what Ec2Provider.drain sets through CreateTags
        assert worker.process.wait(40) == 0
        assert "draining" in worker.text() and "drained" in worker.text()
    finally:
        worker.stop()
        metadata.server.shutdown()


def test_a_worker_serves_its_prometheus_metrics(emulator, upload, photo) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    port = free_port()
    worker = Worker("metrics", "edge", concurrency=1, extra_env={
        "IRS_WORKER_METRICS": f"127.0.0.1:{port}", "IRS_INSTANCE_ID": "with-metrics"})
    try:
        classify.apply_async((upload(photo("dog.jpg"), "dog.jpg"),), queue="edge").get(timeout=60)

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return str(response.read().decode())

        wait_until(lambda: 'irs_worker_processed{pool="edge",worker="with-metrics"} 1.0' in scrape(), 20,
                   "the worker's metrics to count the image")
        scraped = scrape()
        assert "irs_worker_service_seconds" in scraped
        # Counted in the pool process that made the result, and served by the consumer.
        assert 'irs_results_total{pool="edge",status="ok"} 1.0' in scraped
        assert 'irs_stage_milliseconds_count{pool="edge",stage="inference"} 1.0' in scraped
    finally:
        worker.stop()
