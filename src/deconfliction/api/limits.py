"""ASGI middleware: security headers on every response, and a request body size limit.

The API's policy forbids everything; the offline docs and the web console each get their own.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deconfliction.api.problems import MEDIA_TYPE, TABLE
from deconfliction.api.routes_console import is_console_path

API_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    # No other site may load these responses (CORP) or share a browsing context with our pages
    # (COOP); no page of ours uses a camera, a microphone, the browser's position or payments.
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
]
STRICT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# The offline Swagger UI page needs its own scripts and one inline bootstrap script.
DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; frame-ancestors 'none'",
)
DOCS_PATHS = ("/docs", "/redoc", "/static-offline-docs")
OURS = {name for name, _ in API_HEADERS} | {STRICT_CSP[0]}


class SecurityHeaders:
    """Adds the security headers to every response; `console_csp` is the web console's
    Content-Security-Policy, for its paths only. Outermost, so refusals carry them too."""

    def __init__(self, app: ASGIApp, *, console_csp: str) -> None:
        self.app = app
        self.console_csp = (b"content-security-policy", console_csp.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.startswith(DOCS_PATHS):
            csp = DOCS_CSP
        elif is_console_path(path):
            csp = self.console_csp
        else:
            csp = STRICT_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Ours replace any the response set itself (the event stream sets Cache-Control),
                # so each header is sent once, with our value.
                kept = [h for h in message.get("headers", []) if h[0].lower() not in OURS]
                message["headers"] = [*kept, *API_HEADERS, csp]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses a body over `max_body_bytes` with 413, declared or streamed. It runs after the
    authentication (api/authentication.py), so only an authenticated caller's body is read."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(send)
            return
        # The body is read here, whole, so that an over-long stream is refused before any
        # handler sees it; the limit keeps the buffer small.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        await _send_problem(
            send,
            "payload-too-large",
            f"the request body is larger than {self.max_body_bytes} bytes",
        )


async def _send_problem(send: Any, code: str, detail: str) -> None:
    status, title = TABLE[code]
    body = json.dumps(
        {
            "type": f"urn:deconfliction:problem:{code}",
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
        }
    ).encode()
    headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
