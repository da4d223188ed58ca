"""The web tier is safe to expose: tokens, owners, bytes counted as they arrive, no cross-site changes."""

from __future__ import annotations

import http.client
import os
import threading
import time
from pathlib import Path

import httpx

from tests import images
from tests.conftest import IMAGES, wait_until
from tests.helpers.processes import rss_mb
from tests.web.conftest import WebServer, as_
from webapp import tokens


def upload(server: WebServer, token: str) -> dict[str, str]:
    with server.client() as client:
        response = client.post("/api/v1/images", headers=as_(token),
                               files=[("files", ("dog.jpg", (IMAGES / "dog.jpg").read_bytes(), "image/jpeg"))])
    assert response.status_code == 202, response.text
    request: dict[str, str] = response.json()["requests"][0]
    return request


def test_no_token_a_wrong_one_and_a_revoked_one_are_refused(secure: WebServer, people: dict[str, str]) -> None:
    doomed = tokens.create(f"doomed-{os.getpid()}")
    with secure.client() as client:
        for headers in ({}, as_("irs_" + "x" * 43), as_("not even a token")):
            assert client.get("/api/v1/results", headers=headers).status_code == 401
        assert client.get("/api/v1/results", headers=as_(doomed)).status_code == 200
        assert tokens.revoke(f"doomed-{os.getpid()}") == 1
        wait_until(lambda: client.get("/api/v1/results", headers=as_(doomed)).status_code == 401,
                   tokens.CACHE_S + 5, "the revoked token to be refused")
        assert client.get("/metrics/").status_code == 401
        for described in ("/docs", "/openapi.json"):  # the API's description is for callers with a token
            assert client.get(described).status_code == 401
            assert client.get(described, headers=as_(people["ann"])).status_code == 200
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"
        assert client.get("/health/live").status_code == 200  # probes need no token


def test_one_owner_cannot_list_or_fetch_anothers_images(secure: WebServer, people: dict[str, str]) -> None:
    mine = upload(secure, people["ann"])
    with secure.client() as client:
        assert client.get(mine["result_url"], params={"wait": 30}, headers=as_(people["ann"])).status_code == 200
        assert client.get(mine["result_url"], headers=as_(people["bob"])).status_code == 404
        image = f"/api/v1/images/{mine['image_key']}"
        assert client.get(image, headers=as_(people["bob"])).status_code == 404
        assert client.get(image, headers=as_(people["ann"])).status_code == 200
        assert client.get(image, headers=as_(people["admin"])).status_code == 200

        def listed(token: str) -> set[str]:
            body = client.get("/api/v1/results", params={"label": "dog"}, headers=as_(token)).json()
            return {d["task_id"] for d in body["results"]}

        assert mine["request_id"] in listed(people["ann"]) and mine["request_id"] in listed(people["admin"])
        assert mine["request_id"] not in listed(people["bob"])


def test_images_are_served_as_images_only(secure: WebServer, people: dict[str, str]) -> None:
    mine = upload(secure, people["ann"])
    with secure.client() as client:
        response = client.get(f"/api/v1/images/{mine['image_key']}", headers=as_(people["ann"]))
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]


def deleted_files(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if "(deleted)" in os.readlink(fd)) if fds.exists() else 0


def test_a_chunked_body_over_the_limit_gets_413_and_leaves_no_temporary_file(secure: WebServer,
                                                                            people: dict[str, str]) -> None:
    before = deleted_files(secure.process.pid)
    connection = http.client.HTTPConnection("127.0.0.1", secure.port, timeout=60)
    connection.putrequest("POST", "/api/v1/images")
    connection.putheader("Authorization", f"Bearer {people['ann']}")
    connection.putheader("Content-Type", "multipart/form-data; boundary=b")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b"x" * (1024 * 1024)
    head = b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.jpg"\r\n\r\n'
    sent = 0
    try:
        connection.send(b"%x\r\n%s\r\n" % (len(head), head))
        for _ in range(600):  # 600 MB offered, far over the 400 MB limit
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: what it should do
    response = connection.getresponse()
    assert response.status == 413 and b"over the limit" in response.read()
    wait_until(lambda: deleted_files(secure.process.pid) <= before, 20, "the spooled file to be closed")
    assert sent < 600 * len(chunk)  # it was cut off, not read to the end


def test_thirty_concurrent_maximum_size_uploads_keep_memory_bounded(secure: WebServer, people: dict[str, str]) -> None:
    big = images.gradient(5000, 4000, ".jpg")
    big += b"\0" * (20 * 1024 * 1024 - len(big))  # padded to IRS_MAX_IMAGE_BYTES: decoders ignore the tail
    baseline, peak, stop = rss_mb(secure.process.pid), [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(secure.process.pid))
            time.sleep(0.05)

    def send() -> int:
        with httpx.Client(base_url=secure.url, timeout=300) as client:
            return client.post("/api/v1/images", headers=as_(people["bob"]),
                               files=[("files", ("big.jpg", big, "image/jpeg"))]).status_code

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(send())) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    sampler.join()
    print(f"\nweb process RSS: {baseline:.0f} MB before, peak {peak[0]:.0f} MB under 30 concurrent 20 MB uploads")
    assert sorted(set(results)) == [202], results
    assert peak[0] - baseline < 150  # 30 x 20 MB held in memory would be 600 MB


def test_a_cross_site_post_is_refused(secure: WebServer, people: dict[str, str]) -> None:
    files = [("files", ("dog.png", images.png(), "image/png"))]
    with secure.client() as client:
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
            response = client.post("/api/v1/images", headers={**as_(people["ann"]), **headers}, files=files)
            assert response.status_code == 403, response.text


def test_an_unknown_host_is_refused(secure: WebServer) -> None:
    assert httpx.get(f"{secure.url}/health/live", headers={"Host": "evil.example"}).status_code == 400


def test_the_login_form_sets_a_cookie_the_pages_accept(secure: WebServer, people: dict[str, str]) -> None:
    with secure.client() as client:
        failed = client.post("/login", data={"token": "irs_wrong"}, follow_redirects=False)
        assert failed.headers["location"] == "/login?failed=1"
        signed_in = client.post("/login", data={"token": people["ann"]}, follow_redirects=False)
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
        session = {"Cookie": f"irs_session={people['ann']}"}
        assert client.get("/api/v1/results", headers=session).status_code == 200
        assert client.get("/", headers=session, follow_redirects=False).status_code == 200
