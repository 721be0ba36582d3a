"""The live line: `GET /v1/events` as server-sent events, or as a JSON page for polling clients.

The stream is served with sse-starlette's `EventSourceResponse` rather than a bare
`StreamingResponse`: it sends the keep-alive comments on its own timer, drops a client that stops
reading (`send_timeout`), ends the stream as soon as the client disconnects (it listens for the
disconnect and cancels the generator) and ends open streams when uvicorn shuts down — without that
a server with open streams would wait for them forever before stopping.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request, Response
from sse_starlette.sse import ServerSentEvent

from deconfliction.api import sharded_events
from deconfliction.api.deps import Caller, Ctx, Shards
from deconfliction.api.event_hub import (
    EventHub,
    Subscription,
    event_source,
    frame_of,
    hub_of,
    streams_full,
)
from deconfliction.api.responses import JSONResponse
from deconfliction.errors import Unauthenticated
from deconfliction.services import stream
from deconfliction.services.context import Actor, Context
from deconfliction.sharding import events as events_across_shards

router = APIRouter(prefix="/v1")
log = logging.getLogger("deconfliction.events")

EVENT_STREAM = "text/event-stream"
RETRY_MS = 2_000  # how long an EventSource waits before it reconnects
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            EVENT_STREAM: {},
            "application/json": {
                "example": {
                    "events": [
                        {
                            "id": 42,
                            "type": "conflict.detected",
                            "mechanism_id": "mec_…",
                            "subject_id": "cfl_…",
                            "created_at": "2031-05-01T06:00:00Z",
                            "data": {"conflict_id": "cfl_…"},
                        }
                    ],
                    "last_event_id": 42,
                }
            },
        },
        "description": "server-sent events; a JSON page when the request says "
        "Accept: application/json",
    },
    503: {"description": "too many streams are open on this server; retry after Retry-After"},
}


def _wants_page(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and EVENT_STREAM not in accept


@router.get("/events", tags=["events"], responses=RESPONSES)
async def events(
    request: Request,
    ctx: Ctx,
    shards: Shards,
    caller: Caller,
    after: Annotated[
        str | None,
        Query(
            max_length=events_across_shards.MAX_CURSOR_TEXT,
            description="the events after this id; 0 for every stored event. Without it a "
            "stream starts after the newest event (live only), a JSON page at 0. "
            "Last-Event-ID takes precedence. In a deployment over several databases, the "
            "cursor the stream gave (`home:12,east:5`)",
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=stream.MAX_LIMIT, description="JSON page only: at most this many")
    ] = 100,
    last_event_id: Annotated[
        str | None,
        Header(description="the id of the last event received: resume right after it"),
    ] = None,
) -> Response:
    """Every event your party may see — conflicts, notification changes, acknowledgements,
    messages, reminders, escalations — each with a monotonically increasing id.

    As server-sent events (`id:` the event id, `event:` its type, `data:` the event as JSON),
    with a keep-alive comment every 15 s: reconnect with `Last-Event-ID` (or `?after=`) and you
    receive exactly what you missed, in order, once. With `Accept: application/json`, a page
    `{"events": [...], "last_event_id": N}`: ask again with `after=N`. Being sent an event records
    the first delivery of its subject to your party (streamed or fetched).

    In a deployment over several databases each event also names its `shard`, its `id` is that
    shard's, and the resume point is a cursor of one id per shard (`home:12,east:5`): the SSE
    `id:` and the page's `last_event_id`, given back as `Last-Event-ID` or `after`.
    """
    if shards.sharded:
        return await sharded_events.respond(
            request,
            shards,
            caller,
            after=after,
            last_event_id=last_event_id,
            limit=limit,
            page_wanted=_wants_page(request),
        )
    resume = stream.cursor(last_event_id, "Last-Event-ID")
    field = "Last-Event-ID" if resume is not None else "after"
    start = resume if resume is not None else stream.cursor(after, "after")
    if _wants_page(request):
        return await _page(ctx, caller, start or 0, limit, field)
    hub = hub_of(request.app, ctx)
    subscription = hub.subscribe(caller.party_id, caller.token_id)
    if subscription is None:
        return streams_full(hub, request.url.path)
    try:
        if start is None:
            start = await anyio.to_thread.run_sync(stream.newest, ctx, caller)
        else:
            # Refuse a bad cursor or a revoked token now, with a status, not mid-stream.
            await anyio.to_thread.run_sync(
                partial(stream.page, ctx, caller, after=start, limit=1, field=field)
            )
        await hub.ready()
    except BaseException:
        subscription.close()
        raise

    async def release() -> None:
        # Async, so Starlette runs it on the event loop (the hub is not thread-safe); it covers a
        # response whose generator never ran (HEAD), the generator's own `finally` the rest.
        subscription.close()

    return event_source(_stream(request, ctx, caller, hub, subscription, start), hub, release)


async def _page(ctx: Context, caller: Actor, after: int, limit: int, field: str) -> Response:
    page = await anyio.to_thread.run_sync(
        partial(stream.page, ctx, caller, after=after, limit=limit, field=field)
    )
    await anyio.to_thread.run_sync(stream.record_delivery, ctx, caller, page.events, "fetched")
    return JSONResponse({"events": page.events, "last_event_id": page.last_event_id})


async def _stream(
    request: Request,
    ctx: Context,
    caller: Actor,
    hub: EventHub,
    subscription: Subscription,
    after: int,
) -> AsyncIterator[ServerSentEvent | bytes]:
    """Catch up from the store in pages of `hub.batch`, then send what the hub pushes; back to
    the store if the stream fell too far behind. Every `hub.recheck_s` without events the token
    is checked again. EventSourceResponse cancels the generator when the client leaves."""
    cursor = after
    try:
        # An id with no data dispatches nothing, but gives an EventSource its resume point even
        # before the first event arrives.
        yield ServerSentEvent(id=str(cursor), retry=RETRY_MS, comment=f"events after {cursor}")
        while True:
            while True:
                page = await anyio.to_thread.run_sync(
                    partial(stream.listen, ctx, caller, after=cursor, limit=hub.batch),
                    limiter=hub.limiter,
                )
                if page.events:
                    yield b"".join(frame_of(event)[1] for event in page.events)
                cursor = page.last_event_id
                if page.events:
                    await anyio.to_thread.run_sync(
                        stream.record_delivery,
                        ctx,
                        caller,
                        page.events,
                        "stream",
                        limiter=hub.limiter,
                    )
                if len(page.events) < hub.batch:
                    break
            while not subscription.overflowed:
                pushed = await subscription.wait(hub.recheck_s)
                if subscription.revoked:
                    raise Unauthenticated("the token was revoked")
                frames = [(e, f) for e, f in subscription.take() if e["id"] > cursor]
                if frames:
                    # One write for all the events of the wake-up, each frame encoded once by
                    # the hub for every stream it went to.
                    yield b"".join(f for _, f in frames)
                events = [e for e, _ in frames]
                if events:
                    cursor = events[-1]["id"]
                    hub.sent(caller.party_id, events)
                if not pushed:
                    await anyio.to_thread.run_sync(
                        stream.still_listening, ctx, caller, limiter=hub.limiter
                    )
            subscription.resync()
    except Unauthenticated:
        yield ServerSentEvent(comment="the token is no longer valid; the stream ends")
    finally:
        subscription.close()
