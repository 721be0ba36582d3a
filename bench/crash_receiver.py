"""What the crash harness (bench/crash.py) receives from the server it keeps killing: signed
webhooks on a local HTTP server, and each party's live event stream, resumed with Last-Event-ID
after every crash.

Both keep what arrived so the harness can compare it with what the server stored: the webhook
receiver every verified event once (repeats dropped by `webhook-id`, as a real receiver must), in
the order of first arrival; the stream every event in the order it came, repeats noted.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HOST = "127.0.0.1"
STREAM_TIMEOUT = httpx.Timeout(10.0, read=40.0)  # keep-alive comments come every 15 s
RECONNECT_PAUSE_S = 0.1


@dataclass
class Endpoint:
    """One webhook endpoint (a path on the receiver) and what it received."""

    secret: str | None = None
    requests: int = 0  # every request, repeats and refusals included
    repeats: int = 0  # verified requests whose webhook-id had come before
    early: int = 0  # requests before the harness knew the secret (answered 503, retried)
    cut_off: int = 0  # requests whose body ended early: the sender was killed while sending
    rejected: list[str] = field(default_factory=list)  # why a signature did not verify
    events: list[dict[str, Any]] = field(default_factory=list)  # first arrival of each id
    seen: set[str] = field(default_factory=set)


class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1: POST /hook/<name> is endpoint <name>'s delivery."""

    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                # A delivery always has a body; without its length (a header block cut short
                # ends like a whole one) or with less of it, the sender died while sending.
                length = int(self.headers.get("content-length", "0"))
                try:
                    body = self.rfile.read(length)
                except OSError:
                    body = b""
                if not length or len(body) < length:
                    receiver.cut_off(self.path)
                    return  # nobody is left to answer
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.receive(self.path, headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, name: str) -> str:
        """The URL of endpoint `name` (made on first use)."""
        assert self._server is not None
        with self.lock:
            self.endpoints.setdefault(name, Endpoint())
        return f"http://{HOST}:{self._server.server_address[1]}/hook/{name}"

    def set_secret(self, name: str, secret: str) -> None:
        with self.lock:
            self.endpoints[name].secret = secret

    def cut_off(self, path: str) -> None:
        """A delivery whose sender died before its body was through: neither verified nor kept
        (it comes again, whole, after the restart)."""
        with self.lock:
            endpoint = self.endpoints.get(path.removeprefix("/hook/"))
            if endpoint is not None:
                endpoint.requests += 1
                endpoint.cut_off += 1

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """Verify one delivery and keep its event once; the HTTP status to answer."""
        with self.lock:
            endpoint = self.endpoints.get(path.removeprefix("/hook/"))
            if endpoint is None:
                return 404
            endpoint.requests += 1
            if endpoint.secret is None:
                endpoint.early += 1
                return 503
            try:
                event = Webhook(endpoint.secret).verify(body, headers)
            except WebhookVerificationError as error:
                endpoint.rejected.append(f"{headers.get('webhook-id')}: {error}")
                return 400
            if headers["webhook-id"] in endpoint.seen:
                endpoint.repeats += 1
            else:
                endpoint.seen.add(headers["webhook-id"])
                endpoint.events.append(event)
            return 204

    def events(self, name: str) -> list[dict[str, Any]]:
        """A copy of the events endpoint `name` received, first arrivals in order."""
        with self.lock:
            return list(self.endpoints[name].events)


class LiveStream:
    """One token's `GET /v1/events` kept open across crashes: after a dropped connection it
    waits for the server to be up again and resumes with Last-Event-ID."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.last_id = 0
        self.connects = 0
        self.statuses: Counter[int] = Counter()
        self.broken = 0  # connections refused or cut by a transport error (a kill, mostly)
        self.repeats: list[int] = []  # ids that came again, or not after the one before
        self.malformed: list[str] = []  # frames that are not one event with their id:

    async def follow(
        self,
        up: asyncio.Event,
        stop: asyncio.Event,
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        """Read the stream until `stop` is set (or the task is cancelled)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=STREAM_TIMEOUT) as client:
            while not stop.is_set():
                await up.wait()
                try:
                    await self._read(client, on_event)
                except httpx.HTTPError:
                    self.broken += 1
                await asyncio.sleep(RECONNECT_PAUSE_S)

    async def _read(
        self, client: httpx.AsyncClient, on_event: Callable[[dict[str, Any]], None]
    ) -> None:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "text/event-stream",
            "Last-Event-ID": str(self.last_id),
        }
        async with client.stream("GET", "/v1/events", headers=headers) as response:
            self.connects += 1
            self.statuses[response.status_code] += 1
            if response.status_code != 200:
                await response.aread()
                return
            buffer = ""
            async for text in response.aiter_text():
                # Normalised on the whole buffer: a chunk may end between a "\r" and its "\n".
                buffer = (buffer + text).replace("\r\n", "\n")
                *frames, buffer = buffer.split("\n\n")
                for frame in frames:
                    event = self._parse(frame)
                    if event is not None:
                        on_event(event)

    def _parse(self, frame: str) -> dict[str, Any] | None:
        """The event of one frame (None for a comment or a bare id), recorded in order."""
        fields: dict[str, list[str]] = {}
        for line in frame.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value.removeprefix(" "))
        if "data" not in fields:
            return None
        try:
            event: dict[str, Any] = json.loads("\n".join(fields["data"]))
        except ValueError:
            self.malformed.append(f"a frame that is not one event: {frame[:200]!r}")
            return None
        if fields.get("id") != [str(event["id"])]:
            self.malformed.append(f"id: {fields.get('id')} for event {event['id']}")
        if event["id"] <= self.last_id:
            self.repeats.append(event["id"])
            return None
        self.last_id = event["id"]
        self.events.append(event)
        return event
