"""A real webhook receiver for the tests: a local HTTP server that verifies Standard Webhooks
signatures, drops repeats by `webhook-id` as a real receiver must, and records what it got.

It can be stopped and started again on the same port, answer with any status, or hold each
request until the test lets it go (a slow receiver).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Request:
    """One request as it arrived: headers (lower-case names) and the raw body."""

    headers: dict[str, str]
    body: bytes


class Receiver:
    """Receives webhooks on a loopback address (127.0.0.1 unless told); `secret` must be set to
    the registered webhook's."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.secret: str | None = None
        self.status = 200
        self.port = 0
        self.requests: list[Request] = []  # every request, verified or not, repeats included
        self.events: list[dict[str, Any]] = []  # verified bodies, first arrival of each id only
        self.rejected: list[str] = []  # why verification failed, per refused request
        self.hold = threading.Event()
        self.hold.set()  # cleared: each request waits until the test sets it again
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    @property
    def event_ids(self) -> list[int]:
        return [e["event_id"] for e in self.events]

    @property
    def arrivals(self) -> list[str]:
        """The `webhook-id` of every request, in arrival order, repeats included."""
        return [r.headers.get("webhook-id", "") for r in self.requests]

    def start(self) -> Receiver:
        """Listen (again) on the same port as before, or on a free one the first time."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("content-length", "0"))
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Request(headers, body))
                receiver.hold.wait(timeout=30)
                status = receiver.receive(headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Shut the server down: connections to its port are refused until `start` again."""
        if self._server is not None:
            self.hold.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            try:
                assert self.secret is not None, "the test did not give the receiver its secret"
                payload = Webhook(self.secret).verify(body, headers)
            except WebhookVerificationError as error:
                self.rejected.append(str(error))
                return 400
            if self.status < 300 and headers["webhook-id"] not in self._seen:
                self._seen.add(headers["webhook-id"])
                self.events.append(payload)
                self._arrived.notify_all()
            return self.status

    def wait_for_events(self, count: int, timeout: float = 15.0) -> bool:
        """Block until `count` distinct events arrived (for the server's own worker)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.events) >= count, timeout=timeout)


def verify(secret: str, request: Request) -> Any:
    """What a receiver does with a request: the parsed body, or WebhookVerificationError."""
    return Webhook(secret).verify(request.body, request.headers)


def body_of(request: Request) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(request.body)
    return result


def new_receiver(receivers: list[Receiver]) -> Receiver:
    """A started receiver, kept in `receivers` so the test stops it at the end."""
    receiver = Receiver().start()
    receivers.append(receiver)
    return receiver
