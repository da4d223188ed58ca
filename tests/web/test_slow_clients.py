"""Slow, stalled and oversized clients cost only themselves: the web tier keeps answering everyone else."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import images
from tests.web.conftest import WebServer

pytestmark = pytest.mark.integration
TIMEOUT_S = 2.0
HEAD = b'--b\r\nContent-Disposition: form-data; name="files"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n'


@pytest.fixture(scope="module")
def guarded(emulator: str, cloud_worker: object) -> Iterator[WebServer]:
    """A web server with a short body timeout, a 1 MB image limit and two upload slots."""
    server = WebServer("slow-clients", {"IRS_WEB_BODY_TIMEOUT_S": str(TIMEOUT_S), "IRS_WEB_MAX_UPLOADS": "2",
                                        "IRS_WEB_BODY_MIN_RATE": "4096", "IRS_MAX_IMAGE_BYTES": str(1024 * 1024)})
    yield server
    server.stop()


def _open(server: WebServer, length: int | None = None) -> socket.socket:
    """An upload request whose headers and first part header are sent, and nothing more yet."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    sock.sendall(f"POST /api/v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Content-Type: multipart/form-data; boundary=b\r\n{framing}\r\n\r\n".encode())
    sock.sendall(HEAD if length is not None else b"%x\r\n%s\r\n" % (len(HEAD), HEAD))
    return sock


def _status(sock: socket.socket) -> int:
    answer = sock.recv(4096)
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _upload(server: WebServer) -> int:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        return client.post("/api/v1/images", files=[("files", ("dog.png", images.png(), "image/png"))]).status_code


def test_stalled_and_trickling_bodies_do_not_block_other_uploads_and_are_cut_off(guarded: WebServer) -> None:
    stalled = [_open(guarded, length=10_000) for _ in range(12)]  # more than the slots, and than the old limit
    trickling = [_open(guarded, length=100_000) for _ in range(2)]
    stop = threading.Event()

    def trickle() -> None:  # a byte every half second: under the minimum rate, never idle past the timeout
        while not stop.is_set():
            for sock in trickling:
                try:
                    sock.send(b"x")
                except OSError:
                    pass
            time.sleep(0.5)

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        began = time.monotonic()
        answered = [_upload(guarded) for _ in range(6)]
        print(f"\n{len(answered)} uploads answered {sorted(set(answered))} while 12 clients stalled and 2 trickled, "
              f"in {time.monotonic() - began:.2f} s")
        assert answered == [202] * 6
        assert [_status(sock) for sock in stalled] == [408] * 12  # each cut off at its own timeout
        assert [_status(sock) for sock in trickling] == [408] * 2
    finally:
        stop.set()
        for sock in stalled + trickling:
            sock.close()


def test_a_file_over_the_image_limit_is_refused_as_it_passes_it_whatever_the_length_says(guarded: WebServer) -> None:
    for declared in (None, 15 * 1024 * 1024, 100 * 1024 * 1024):  # chunked, within the request's limit, over it
        sock = _open(guarded, length=declared)
        sent = 0
        chunk = b"x" * 65536
        try:
            while sent < 100 * 1024 * 1024:
                sock.sendall(chunk if declared is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the server stopped reading: what it should do
        status = _status(sock)
        sock.close()
        assert status == 413, (declared, status)
        assert sent < 16 * 1024 * 1024, f"{sent:,} bytes were taken for a 1 MB limit (declared {declared})"


def test_more_files_than_a_request_may_carry_is_413(guarded: WebServer) -> None:
    files = [("files", (f"{n}.png", images.png(), "image/png")) for n in range(21)]
    with httpx.Client(base_url=guarded.url, timeout=60) as client:
        response = client.post("/api/v1/images", files=files)
    assert response.status_code == 413 and "over the limit of 20 per request" in response.text, response.text
