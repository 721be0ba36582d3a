"""A lean HTTP/1.1 client for the benchmarks' load generators: one keep-alive connection each.

The load generators run on the same two cores as the server they measure, so every bit of CPU
the client spends is taken from the server. httpx spends about a millisecond of CPU on a
request and tens of microseconds on each piece of a streamed body; this client writes the
request's bytes itself and hands the response to httptools' C parser (installed with
uvicorn[standard]), a few times less. It does what the benchmarks need and no more: plain
http:// to 127.0.0.1, one request at a time per connection, bodies in memory or streamed to a
callback, a closed connection opened again for the next request; JSON written and read by
orjson. Errors are `HttpError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
import orjson

IDLE_REUSE_S = 2.0  # a connection idle this long is closed and a new one opened


class HttpError(Exception):
    """The connection failed, closed early, or the response could not be parsed."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return orjson.loads(self.body)


# A streamed body's piece, with the moment it was read from the socket (time.perf_counter()).
Sink = Callable[[bytes, float], None]


class _Protocol(asyncio.Protocol):
    """One connection: the response in progress, parsed as the bytes arrive."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.body: list[bytes] = []
        self.sink: Sink | None = None
        self.headers_done: asyncio.Future[int] | None = None
        self.done: asyncio.Future[Response] | None = None
        self.closed = False

    # asyncio's callbacks.

    def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(HttpError(f"unparsable response: {error}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(HttpError(f"connection closed: {exc or 'by the server'}"))

    # httptools' callbacks.

    def on_message_begin(self) -> None:
        self.status, self.body = 0, []

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(self.status)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None and self.status == 200:
            self.sink(body, time.perf_counter())
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(Response(self.status, b"".join(self.body)))
        if not self.parser.should_keep_alive():
            self.close()

    # Ours.

    def _fail(self, error: HttpError) -> None:
        for waiter in (self.headers_done, self.done):
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Connection:
    """One keep-alive connection to `host:port`, opened when first needed and again after the
    server closed it; one request at a time."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 60.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._protocol: _Protocol | None = None
        self._used_at = 0.0

    async def _open(self) -> _Protocol:
        idle = time.monotonic() - self._used_at
        if self._protocol is not None and idle > IDLE_REUSE_S:
            self._protocol.close()  # uvicorn closes idle connections after 5 s: never race it
        self._used_at = time.monotonic()
        if self._protocol is None or self._protocol.closed:
            loop = asyncio.get_running_loop()
            try:
                transport, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            except OSError as error:
                raise HttpError(f"cannot connect: {error}") from error
            protocol.transport = transport  # before connection_made, which uvloop calls later
            self._protocol = protocol
        return self._protocol

    def _head(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        json_body: Any = None,
    ) -> Response:
        """Send a request and read its whole response."""
        body = None
        if json_body is not None:
            body = orjson.dumps(json_body)
            headers = {**headers, "Content-Type": "application/json"}
        elif method == "POST":
            body = b""
        protocol = await self._open()
        protocol.done = asyncio.get_running_loop().create_future()
        assert protocol.transport is not None
        protocol.transport.write(self._head(method, path, headers, body) + (body or b""))
        try:
            async with asyncio.timeout(self.timeout_s):
                return await protocol.done
        except TimeoutError:
            protocol.close()
            raise HttpError(f"no response in {self.timeout_s:g} s") from None
        finally:
            protocol.done = None

    async def stream(
        self, path: str, headers: dict[str, str], sink: Sink, on_open: Callable[[], None]
    ) -> Response:
        """GET a streamed response: `on_open()` once its headers arrive with 200, then every
        piece of its body to `sink` until the server ends it (its Response, body empty) or the
        task is cancelled (the connection is closed). Another status: its whole response."""
        protocol = await self._open()
        loop = asyncio.get_running_loop()
        protocol.headers_done, protocol.done = loop.create_future(), loop.create_future()
        protocol.sink = sink
        assert protocol.transport is not None
        protocol.transport.write(self._head("GET", path, headers, None))
        try:
            async with asyncio.timeout(self.timeout_s):
                status = await protocol.headers_done
            if status == 200:
                on_open()
            return await protocol.done
        except TimeoutError:
            raise HttpError(f"no response headers in {self.timeout_s:g} s") from None
        finally:
            protocol.sink = protocol.headers_done = protocol.done = None  # nobody waits now
            protocol.close()

    def close(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
