"""`GET /v1/events` in a deployment over several databases: the same stream and pages as
routes_events.py, over every shard at once (sharding/events.py), each shard's new events pushed
by that shard's own hub. An event's SSE `id:` is the whole cursor after it (`home:12,east:5`),
so an EventSource resumes with `Last-Event-ID` exactly where it was, in every shard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request, Response
from sse_starlette.sse import ServerSentEvent

from deconfliction.api.event_hub import EventHub, Subscription, event_source, hub_of, streams_full
from deconfliction.api.responses import JSONResponse
from deconfliction.errors import Unauthenticated
from deconfliction.services.context import Actor
from deconfliction.sharding import events
from deconfliction.sharding.deployment import Deployment

RETRY_MS = 2_000


def hubs_of(app: FastAPI, deployment: Deployment) -> dict[str, EventHub]:
    """One hub per shard, made on first use (the home shard's is the app's hub)."""
    hubs: dict[str, EventHub] | None = getattr(app.state, "event_hubs", None)
    if hubs is None:
        hubs = {
            name: hub_of(app, ctx) if ctx is deployment.home else EventHub(ctx)
            for name, ctx in deployment.contexts.items()
        }
        app.state.event_hubs = hubs
    return hubs


async def respond(
    request: Request,
    deployment: Deployment,
    caller: Actor,
    *,
    after: str | None,
    last_event_id: str | None,
    limit: int,
    page_wanted: bool,
) -> Response:
    resume = events.parse(last_event_id, deployment, "Last-Event-ID")
    field = "Last-Event-ID" if resume is not None else "after"
    start = resume if resume is not None else events.parse(after, deployment, "after")
    if page_wanted:
        taken = await anyio.to_thread.run_sync(
            partial(
                events.page,
                deployment,
                caller,
                after=start or dict.fromkeys(deployment.contexts, 0),
                limit=limit,
                field=field,
            )
        )
        await anyio.to_thread.run_sync(events.record_delivery, deployment, caller, taken, "fetched")
        return JSONResponse(
            {"events": taken.views(), "last_event_id": events.format_cursor(taken.cursor)}
        )
    hubs = hubs_of(request.app, deployment)
    subscriptions: dict[str, Subscription] = {}
    for name, hub in hubs.items():
        subscription = hub.subscribe(caller.party_id, caller.token_id)
        if subscription is None:
            for held in subscriptions.values():
                held.close()
            return streams_full(hub, request.url.path)
        subscriptions[name] = subscription
    try:
        if start is None:
            start = await anyio.to_thread.run_sync(events.newest, deployment, caller)
        else:
            await anyio.to_thread.run_sync(
                partial(events.page, deployment, caller, after=start, limit=1, field=field)
            )
        for hub in hubs.values():
            await hub.ready()
    except BaseException:
        for subscription in subscriptions.values():
            subscription.close()
        raise

    async def release() -> None:
        for subscription in subscriptions.values():
            subscription.close()

    home = hubs[next(iter(hubs))]
    return event_source(_stream(deployment, caller, hubs, subscriptions, start), home, release)


def _frames(taken: events.Taken, after: events.Cursor) -> bytes:
    """Each event's frame, its `id:` the cursor right after it."""
    cursor = dict(after)
    frames = []
    for view, (shard, event) in zip(taken.views(), taken.events, strict=True):
        cursor[shard] = event["id"]
        data = json.dumps(view, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        frame = ServerSentEvent(data=data, id=events.format_cursor(cursor), event=view["type"])
        frames.append(frame.encode())
    return b"".join(frames)


async def _pushed(subscriptions: dict[str, Subscription], timeout: float) -> bool:
    """Until any subscription is pushed something (True) or `timeout` seconds pass (False)."""
    waits = [asyncio.ensure_future(s.wait(timeout)) for s in subscriptions.values()]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for waiting in pending:
        waiting.cancel()
    return any(task.result() for task in done)


async def _stream(
    deployment: Deployment,
    caller: Actor,
    hubs: dict[str, EventHub],
    subscriptions: dict[str, Subscription],
    after: events.Cursor,
) -> AsyncIterator[ServerSentEvent | bytes]:
    """Catch up from every shard in pages, then send what the hubs push; back to the stores if
    any shard's stream fell too far behind (as routes_events._stream, over every shard)."""
    home = hubs[next(iter(hubs))]
    cursor = after
    try:
        text = events.format_cursor(cursor)
        yield ServerSentEvent(id=text, retry=RETRY_MS, comment=f"events after {text}")
        while True:
            while True:
                taken = await anyio.to_thread.run_sync(
                    partial(events.listen, deployment, caller, after=cursor, limit=home.batch),
                    limiter=home.limiter,
                )
                if taken.events:
                    yield _frames(taken, cursor)
                    await anyio.to_thread.run_sync(
                        events.record_delivery,
                        deployment,
                        caller,
                        taken,
                        "stream",
                        limiter=home.limiter,
                    )
                cursor = taken.cursor
                if len(taken.events) < home.batch:
                    break
            while not any(s.overflowed for s in subscriptions.values()):
                pushed = await _pushed(subscriptions, home.recheck_s)
                if any(s.revoked for s in subscriptions.values()):
                    raise Unauthenticated("the token was revoked")
                fresh: dict[str, list[dict[str, Any]]] = {
                    name: [e for e, _ in s.take() if e["id"] > cursor[name]]
                    for name, s in subscriptions.items()
                }
                taken = events.interleave(fresh, cursor, sum(map(len, fresh.values())))
                if taken.events:
                    yield _frames(taken, cursor)
                    cursor = taken.cursor
                    for name, hub in hubs.items():
                        if sent := taken.of_shard(name):
                            hub.sent(caller.party_id, sent)
                if not pushed:
                    await anyio.to_thread.run_sync(
                        events.still_listening, deployment, caller, limiter=home.limiter
                    )
            for subscription in subscriptions.values():
                subscription.resync()
    except Unauthenticated:
        yield ServerSentEvent(comment="the token is no longer valid; the stream ends")
    finally:
        for subscription in subscriptions.values():
            subscription.close()
