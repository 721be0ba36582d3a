"""Request dependencies: the service context, the authenticated actor, idempotency keys."""

from __future__ import annotations

import hashlib
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from deconfliction.services import line_status, tokens
from deconfliction.services.context import Actor, Context, RequestKey

bearer = HTTPBearer(auto_error=False, description="a party's or the operator's token")


def context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


async def actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The caller, authenticated on the event loop: one indexed read, no hand-off to a thread.

    Recording that its party was heard from is a write, done on a worker thread, and only when
    due (every 30 s at most).
    """
    ctx = context(request)
    caller = tokens.authenticate(ctx, credentials.credentials if credentials else None)
    if line_status.contact_due(ctx, caller):
        await anyio.to_thread.run_sync(line_status.heard_from, ctx, caller)
    return caller


IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="retrying a POST with the same key never creates a duplicate",
    ),
]

Ctx = Annotated[Context, Depends(context)]
Caller = Annotated[Actor, Depends(actor)]


def request_key(
    request: Request, key: str | None, body: BaseModel | None = None
) -> RequestKey | None:
    """The key with a fingerprint of what it was sent with, so reuse for another request fails."""
    if key is None:
        return None
    content = body.model_dump_json() if body is not None else ""
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n{content}".encode())
    return RequestKey(key=key, fingerprint=digest.hexdigest())
