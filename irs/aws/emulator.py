"""The local AWS: moto's standalone server on loopback, plus a request counter.

IRS speaks the real SQS, S3, SNS and EC2 HTTP APIs to it, exactly as to AWS.
The counter sits in front of moto as WSGI middleware, so it sees every request
from every process (boto3's and kombu's own HTTP client alike); the benchmark
reads it at ``GET /_irs/requests`` and clears it with ``DELETE``.

It holds every queued message and stored image, so a web page must not reach
it (:class:`Guard`): it answers no cross-origin request (moto's global CORS is
off, and a request that carries an ``Origin`` header, as a browser's
cross-site requests do, is refused), only loopback ``Host`` names (against DNS
rebinding), and ``/moto-api/`` (moto's dashboard, state dump and reset) only to
a caller that shows the token in ``IRS_EMULATOR_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def operation(environ: Environ) -> str:
    """Name a request as "service Operation" (S3 by method, since its API is REST)."""
    match = _SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = match.group(1) if match else "unsigned"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return f"{service} {target.rsplit('.', 1)[-1]}"
    if service == "s3":
        return f"s3 {environ['REQUEST_METHOD']}"
    action = re.search(r"Action=(\w+)", environ.get("QUERY_STRING", ""))
    return f"{service} {action.group(1) if action else environ['REQUEST_METHOD']}"


def s3_prefix(environ: Environ) -> str | None:
    """For an S3 object request: "<METHOD> <bucket>/<first part of the key>/", to tell result reads
    from worker reports; None for anything else."""
    if not operation(environ).startswith("s3 "):
        return None
    parts = environ.get("PATH_INFO", "").lstrip("/").split("/", 2)
    if len(parts) < 3:
        return None
    return f"{environ['REQUEST_METHOD']} {parts[0]}/{parts[1]}/"


class RequestCounter:
    """WSGI middleware that counts requests by operation (``GET /_irs/requests``) and S3 object
    requests by key prefix (``GET /_irs/requests?by=prefix``); ``DELETE`` clears both."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.prefixes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_irs/requests":
            with self._lock:
                by_prefix = "by=prefix" in environ.get("QUERY_STRING", "")
                body = json.dumps(dict(self.prefixes if by_prefix else self.counts)).encode()
                if environ["REQUEST_METHOD"] == "DELETE":
                    self.counts.clear()
                    self.prefixes.clear()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        prefix = s3_prefix(environ)
        with self._lock:
            self.counts[operation(environ)] += 1
            if prefix:
                self.prefixes[prefix] += 1
        return self.app(environ, start_response)


LOOPBACK_HOSTS = re.compile(r"^(localhost|[a-z0-9.-]+\.localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$")
TOKEN_HEADER = "HTTP_X_IRS_EMULATOR_TOKEN"


class Guard:
    """WSGI middleware: refuse what a browser, a rebinding DNS name or a stranger could send."""

    def __init__(self, app: WSGIApp, token: str) -> None:
        self.app, self.token = app, token

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [refusal.encode()]

    def refusal(self, environ: Environ) -> str | None:
        if "HTTP_ORIGIN" in environ:
            return "the emulator answers no cross-origin request"
        if not LOOPBACK_HOSTS.match(environ.get("HTTP_HOST", "").lower()):
            return "the emulator answers only loopback Host names"
        if environ.get("PATH_INFO", "").startswith("/moto-api") and \
                not secrets.compare_digest(environ.get(TOKEN_HEADER, ""), self.token):
            return "/moto-api is IRS's own tooling's: send the X-IRS-Emulator-Token header"
        return None


def make_app(token: str) -> Guard:
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"  # read by moto when it is first imported
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return Guard(RequestCounter(DomainDispatcherApplication(create_backend_app)), token)


def serve(host: str, port: int, prepare: Callable[[], None] | None = None) -> None:
    """Run the emulator in this process until SIGTERM or SIGINT; ``prepare`` runs once moto is loaded."""
    if not host.startswith("127.") and host not in ("localhost", "::1"):
        raise SystemExit(f"the emulator only binds to loopback, not {host}")
    os.environ["MOTO_PORT"] = str(port)  # moto builds queue URLs from it
    app = make_app(os.environ.get("IRS_EMULATOR_TOKEN") or secrets.token_urlsafe(16))
    if prepare:
        prepare()
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"emulator listening on http://{host}:{port}", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None, prepare: Callable[[], None] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    serve(args.host, args.port, prepare)


if __name__ == "__main__":
    main()
