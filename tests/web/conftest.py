"""A real web server process (`irs web`) on loopback, over the session's emulator and cloud worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import ARTIFACTS, ROOT, wait_until
from tests.helpers.ports import free_port


class WebServer:
    def __init__(self, name: str, extra_env: dict[str, str] | None = None, ready: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ARTIFACTS / f"web-{name}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.process = subprocess.Popen([sys.executable, "-m", "irs.cli", "web", "--port", str(self.port)],
                                        cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        wait_until(lambda: self._answers("ready" if ready else "live"), 60, f"the web server {name}")

    def _answers(self, health: str) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.url}/health/{health}", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=90)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def web(emulator: str, cloud_worker: object) -> Iterator[WebServer]:
    server = WebServer("main")
    yield server
    server.stop()


@pytest.fixture
def web_server(emulator: str) -> Iterator[Callable[..., WebServer]]:
    """Start a web server with settings of the test's own; stopped after the test."""
    started: list[WebServer] = []

    def start(name: str, ready: bool = True, **env: str) -> WebServer:
        started.append(WebServer(name, env, ready))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def secure(emulator: str, cloud_worker: object) -> Iterator[WebServer]:
    """A web server that needs API tokens (as one beyond loopback does), and takes 30 uploads at once."""
    server = WebServer("secure", {"IRS_WEB_AUTH": "true", "IRS_WEB_MAX_UPLOADS": "30"})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def people(secure: WebServer) -> dict[str, str]:
    """A token each for two users and an admin."""
    from webapp import tokens

    return {name: tokens.create(f"{name}-{os.getpid()}", admin=name == "admin") for name in ("ann", "bob", "admin")}


def as_(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
