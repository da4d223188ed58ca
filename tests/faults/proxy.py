"""A fault-injecting HTTP proxy between IRS and the emulator, for tests only.

IRS (workers, clients) is pointed at the proxy's port instead of the
emulator's; the emulator keeps its state whatever the proxy does. The proxy
parses just enough HTTP/1.1 to forward keep-alive requests one at a time, and
for each request decides, by the fault set with :meth:`FaultProxy.inject`,
whether to forward it or to answer as a troubled AWS would:

- ``S3_500`` / ``S3_SLOWDOWN``: an S3 request is answered 500 InternalError or
  503 SlowDown; ``S3_READ_500``: only an S3 GET (a worker reading its image, a
  client reading or listing results) is answered 500;
- ``SQS_THROTTLE``: an SQS request is answered 400 ThrottlingException;
- ``RESET``: the connection is reset (TCP RST) instead of answered;
- ``LATENCY``: the request waits two seconds before it is forwarded;
- :meth:`FaultProxy.refuse`: every connection is refused (the port is closed)
  for a while, and open ones are cut.

Each fault hits a share of the matching requests (seeded, so a run can be
repeated); :attr:`FaultProxy.injected` counts what was done.
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable

from irs.aws.emulator import operation

LATENCY_S = 2.0


class Fault(enum.Enum):
    S3_500 = "s3 500 InternalError"
    S3_SLOWDOWN = "s3 503 SlowDown"
    S3_READ_500 = "s3 500 InternalError on every GET"
    SQS_THROTTLE = "sqs 400 ThrottlingException"
    RESET = "connection reset"
    LATENCY = "2 s latency spike"


def _s3_error(status: str, code: str, message: str) -> bytes:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>" \
           f"<RequestId>fault-proxy</RequestId></Error>".encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def _sqs_throttle(json_protocol: bool) -> bytes:
    if json_protocol:
        body = json.dumps({"__type": "com.amazonaws.sqs#ThrottlingException", "message": "Rate exceeded"}).encode()
        kind, extra = "application/x-amz-json-1.0", "x-amzn-query-error: ThrottlingException;Sender\r\n"
    else:
        body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>ThrottlingException</Code><Message>Rate exceeded"
                b"</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>")
        kind, extra = "text/xml", ""
    return (f"HTTP/1.1 400 Bad Request\r\nContent-Type: {kind}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def _s3_500(_: bool) -> bytes:
    return _s3_error("500 Internal Server Error", "InternalError", "We encountered an internal error. Please try "
                     "again.")


ANSWERS: dict[Fault, Callable[[bool], bytes]] = {
    Fault.S3_500: _s3_500,
    Fault.S3_READ_500: _s3_500,
    Fault.S3_SLOWDOWN: lambda _: _s3_error("503 Slow Down", "SlowDown", "Please reduce your request rate."),
    Fault.SQS_THROTTLE: _sqs_throttle,
}
#: The requests each fault hits: those whose operation ("s3 GET", "sqs SendMessage") starts so.
MATCHES = {Fault.S3_500: "s3 ", Fault.S3_SLOWDOWN: "s3 ", Fault.S3_READ_500: "s3 GET", Fault.SQS_THROTTLE: "sqs "}


class Request:
    """One HTTP request as read from the client: its raw bytes and what the proxy decides on."""

    def __init__(self, head: bytes, body: bytes) -> None:
        self.raw = head + body
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        path, _, query = target.partition("?")
        self.operation = operation({
            "HTTP_AUTHORIZATION": self.headers.get("authorization", ""),
            "HTTP_X_AMZ_TARGET": self.headers.get("x-amz-target", ""),
            "QUERY_STRING": query + "&" + body.decode("latin-1", "replace")[:200],
            "REQUEST_METHOD": method, "PATH_INFO": path})
        self.method = method


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """The message body exactly as sent (chunked bodies with their framing)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            raw += size_line
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    line = await reader.readuntil(b"\r\n")
                    raw += line
                    if line == b"\r\n":
                        return raw
            raw += await reader.readexactly(size + 2)
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


def _headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, as a reset connection does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """The proxy, on its own thread and event loop; ``port`` is where IRS should connect."""

    def __init__(self, upstream_port: int, seed: int = 14) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._fault: Fault | None = None
        self._share = 0.0
        self._random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._busy: set[asyncio.StreamWriter] = set()  # connections in the middle of a request
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    # -- control, from the test's thread ------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def inject(self, fault: Fault | None, share: float = 0.2) -> None:
        """From now on, answer ``share`` of the matching requests with ``fault`` (None: forward all)."""
        self._fault, self._share = fault, share

    def refuse(self, seconds: float) -> None:
        """Close the port for ``seconds`` (connections are refused) and cut every open connection; returns at
        once, the port opens again by itself."""
        self._call(self._refuse(seconds))

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    # -- the proxy ----------------------------------------------------------------------------
    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port or 0, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        """Close the port, and every connection not in the middle of a request (the others close after it:
        an answer already on its way is not lost, as a message received then would be for a visibility timeout)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            if writer not in self._busy:
                writer.transport.abort()

    async def _shutdown(self) -> None:
        """Close everything and let every connection's task end before the loop stops."""
        await self._close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _refuse(self, seconds: float) -> None:
        await self._close()
        self.injected[f"refused for {seconds:g} s"] += 1
        self._loop.call_later(seconds, lambda: self._loop.create_task(self._listen()))

    def _pick(self, request: Request) -> Fault | None:
        fault = self._fault
        if fault is None or not request.operation.startswith(MATCHES.get(fault, "")):
            return None
        return fault if self._random.random() < self._share else None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                headers = _headers_of(head)
                if headers.get("expect", "").lower() == "100-continue":  # answered here, not forwarded
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    head = re.sub(rb"(?im)^expect:[^\r\n]*\r\n", b"", head)
                request = Request(head, await _read_body(reader, headers))
                fault = self._pick(request)
                if fault is not None:
                    self.injected[fault.value] += 1
                if fault is Fault.RESET:
                    _reset(writer)
                    return
                if fault in ANSWERS:
                    writer.write(ANSWERS[fault]("x-amz-target" in request.headers))  # type: ignore[index]
                    await writer.drain()
                    continue
                if fault is Fault.LATENCY:
                    await asyncio.sleep(LATENCY_S)
                if upstream is None:
                    upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                self._busy.add(writer)
                try:
                    keep = await self._forward(request, upstream, writer)
                finally:
                    self._busy.discard(writer)
                self.forwarded += 1
                if not keep or self._server is None:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            if upstream is not None:
                upstream[1].transport.abort()
            if not writer.is_closing():
                writer.close()

    async def _forward(self, request: Request, upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                       writer: asyncio.StreamWriter) -> bool:
        """Send the request upstream and its answer back; False when either side closes after it."""
        up_reader, up_writer = upstream
        up_writer.write(request.raw)
        await up_writer.drain()
        status = 100
        while 100 <= status < 200:  # interim answers are not passed on
            head = await up_reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
        headers = _headers_of(head)
        if request.method == "HEAD" or status in (204, 304):
            body = b""
        elif "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_body(up_reader, headers)
        else:  # the answer ends when the server closes
            body = await up_reader.read()
            headers["connection"] = "close"
        writer.write(head + body)
        await writer.drain()
        return "close" not in (headers.get("connection", "") + request.headers.get("connection", "")).lower()
