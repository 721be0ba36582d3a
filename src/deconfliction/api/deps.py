"""Request dependencies: the service context, the authenticated actor, idempotency keys."""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from deconfliction.api.authentication import CALLER
from deconfliction.services import line_status, log_access
from deconfliction.services.context import Actor, Context, RequestKey
from deconfliction.sharding.deployment import Deployment

log = logging.getLogger("deconfliction.shards")
bearer = HTTPBearer(auto_error=False, description="a party's or the operator's token")


async def deployment_of(request: Request) -> Deployment:
    """The deployment's shards (async, as every dependency that does no I/O: a synchronous one
    would cost each request a hand-off to a worker thread and back)."""
    found: Deployment = request.app.state.deployment
    return found


async def context(request: Request) -> Context:
    """The context of the shard the request is for (sharding/deployment.py): that of the
    mechanism, notification, conflict, message or incident its path names, else the home one.
    Only over several databases may that take a read, on a worker thread."""
    deployment = await deployment_of(request)
    if not deployment.sharded:
        return deployment.home
    return await anyio.to_thread.run_sync(deployment.for_path, request.path_params)


async def actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The caller, authenticated before the body was read (api/authentication.py); the bearer
    scheme is declared here for the OpenAPI document.

    Recording that its party was heard from is a write, done on a worker thread, and only when
    due (every 30 s at most). Every read by the operator is logged before it is answered.
    """
    caller: Actor = getattr(request.state, CALLER)
    deployment = await deployment_of(request)
    for name, shard in deployment.contexts.items():  # each shard's line status
        if line_status.contact_due(shard, caller):
            try:
                await anyio.to_thread.run_sync(line_status.heard_from, shard, caller)
            except Exception:
                if not deployment.sharded:
                    raise
                # One shard that cannot be written does not stop requests to the others.
                log.exception("recording the caller's contact on shard %s failed", name)
    if caller.is_operator and request.method == "GET" and _party_data(request.url.path):
        ctx = await context(request)
        await anyio.to_thread.run_sync(
            partial(
                log_access.operator_read,
                ctx,
                caller,
                path=request.url.path,
                query=request.url.query,
            )
        )
    return caller


def _party_data(path: str) -> bool:
    """Whether a GET path may show parties' data (the log, heads and the caller are not)."""
    return path != "/v1/me" and not path.startswith(("/v1/log/", "/v1/receipts"))


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
Shards = Annotated[Deployment, Depends(deployment_of)]
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
