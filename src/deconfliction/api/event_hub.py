"""The event hub: one poller per app reads each new event once and hands it to the open streams.

Streams do not poll the database each on its own: the hub reads the events stored since its last
tick on a worker thread — one query however many streams are open — and pushes each event to the
buffer of every open stream whose token may see it (the event's audience; an event addressed to
one token only to that token's streams; every event to the operator's). It sees events written
by any process on the same database. On SQLite it ticks every 20 ms; where the store wakes it
after each commit that stored events, in any process (PostgreSQL's LISTEN/NOTIFY), it ticks when
woken, 20 ms apart at the most, and every second regardless, in case a wake-up was lost. In the
same read it learns which of the subscribed tokens were revoked, and ends their streams before
they are sent anything more. A stream that falls too far behind drops its buffer and catches up
from the store.

Streams tell the hub what they have sent; the hub records those first deliveries in one write per
tick, not one per stream and event.

The hub starts with the first stream and stops by itself when the last one closes, so it needs
nothing from the app's lifespan. It also enforces the per-process limits of streaming.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Any

import anyio
from fastapi import FastAPI, Response
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from deconfliction.api import problems
from deconfliction.services import inbox
from deconfliction.services.context import Context
from deconfliction.services.stream import event_view

log = logging.getLogger("deconfliction.events")

OPERATOR = "*"  # the key of operator streams, which are sent every event
SCAN_LIMIT = 5_000  # new events read per tick; more are read on the next, without sleeping
STREAM_THREADS = 8  # worker threads for the streams' catch-up reads, so requests keep theirs
MAX_BUFFERED = 10_000  # events a stream may hold unsent before it drops them and catches up


# An event as a stream sends it: its view, and its server-sent-event frame, encoded once.
Frame = tuple[dict[str, Any], bytes]


def frame_of(event: dict[str, Any]) -> Frame:
    """The event with its SSE frame: `id:` the event id, `event:` its type, `data:` the JSON."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return event, ServerSentEvent(data=data, id=str(event["id"]), event=event["type"]).encode()


class Subscription:
    """One open stream's place in the hub: the events pushed to it, not yet sent.

    `close()` it when the stream ends (more than once is harmless).
    """

    def __init__(self, hub: EventHub, key: str, token_id: str) -> None:
        self._hub = hub
        self.key = key
        self.token_id = token_id
        self.revoked = False
        self.overflowed = False
        self._buffer: list[Frame] = []
        self._ready = asyncio.Event()
        self._closed = False

    def push(self, frame: Frame) -> None:
        if len(self._buffer) >= MAX_BUFFERED:
            self.overflowed = True
            self._buffer.clear()
        else:
            self._buffer.append(frame)
        self._ready.set()

    def revoke(self) -> None:
        self.revoked = True
        self._ready.set()

    def take(self) -> list[Frame]:
        """The events pushed since the last take, oldest first."""
        events, self._buffer = self._buffer, []
        self._ready.clear()
        return events

    def resync(self) -> None:
        """After an overflow: forget the buffer; the stream reads from the store instead."""
        self.overflowed = False
        self.take()

    async def wait(self, timeout: float) -> bool:
        """Until something is pushed (True) or `timeout` seconds pass (False)."""
        if self._ready.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub._leave(self)


class EventHub:
    """Hands new events to the open streams; limits how many streams may be open."""

    def __init__(
        self,
        ctx: Context,
        *,
        tick_s: float = 0.02,
        idle_s: float = 1.0,
        max_streams: int = 1_000,
        batch: int = 500,
        recheck_s: float = 30.0,
        ping_s: float = 15.0,
        send_timeout_s: float = 60.0,
        retry_after_s: int = 10,
    ) -> None:
        self.ctx = ctx
        self.tick_s = tick_s
        self.idle_s = idle_s
        self.max_streams = max_streams
        self.batch = batch
        self.recheck_s = recheck_s
        self.ping_s = ping_s
        self.send_timeout_s = send_timeout_s
        self.retry_after_s = retry_after_s
        self.open_streams = 0
        self.newest = 0
        self.ticks = 0
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)
        self._sent: dict[str, set[str]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._woken: asyncio.Event | None = None  # set by the store's wake-ups, if it has any

    # Streams.

    def subscribe(self, party_id: str | None, token_id: str) -> Subscription | None:
        """A place for one more stream of a token (party None: the operator); None when full."""
        if self.open_streams >= self.max_streams:
            return None
        key = OPERATOR if party_id is None else party_id
        subscription = Subscription(self, key, token_id)
        self.open_streams += 1
        self._subscriptions[key].add(subscription)
        return subscription

    def _leave(self, subscription: Subscription) -> None:
        self.open_streams -= 1
        subscriptions = self._subscriptions[subscription.key]
        subscriptions.discard(subscription)
        if not subscriptions:
            del self._subscriptions[subscription.key]

    def sent(self, party_id: str | None, events: list[dict[str, Any]]) -> None:
        """These events were handed to a stream of the party: record their first delivery.

        Recorded by the poller, for all streams at once, at its next tick (woken for it, if it
        waits for wake-ups). The operator's reading delivers nothing to any party.
        """
        if party_id is not None:
            self._sent[party_id].update(e["subject_id"] for e in events)
            if self._woken is not None:
                self._woken.set()

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The worker threads streams read the store on, apart from those serving requests."""
        assert self._limiter is not None, "ready() first"
        return self._limiter

    async def ready(self) -> None:
        """Make sure the poller runs; returns once it knows the newest event id.

        A stream catches up from the store only after this: every event stored after its
        catch-up is one the poller has not yet read, and will push to it.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Served from another event loop than before (a test client, a restarted server):
            # waiting primitives belong to one loop, so start over on this one.
            self._loop, self._task, self._starting = loop, None, asyncio.Lock()
            self._limiter = anyio.CapacityLimiter(STREAM_THREADS)
        assert self._starting is not None
        async with self._starting:
            if self._task is None or self._task.done():
                # Watching before reading the newest id: no commit after that read goes unseen.
                woken = asyncio.Event()
                unwatch = self.ctx.store.watch_events(lambda: _set_from_thread(loop, woken))
                self._woken = None if unwatch is None else woken
                self.newest = await asyncio.to_thread(self._read_newest)
                self._task = loop.create_task(self._poll(self._woken, unwatch), name="event-hub")

    @property
    def running(self) -> bool:
        """Whether the poller runs (only while a stream is open)."""
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        """Stop the poller now (it also stops by itself once no stream is open)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # The poller.

    def _read_newest(self) -> int:
        with self.ctx.store.read() as tx:
            return tx.last_event_id()

    def _read_new(self, after: int, tokens: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
        """Events stored after `after`, and which of the tokens were revoked meanwhile."""
        with self.ctx.store.read() as tx:
            if tx.last_event_id() <= after:
                return [], set()
            return tx.events_after(None, "", after, SCAN_LIMIT), tx.revoked_among(tokens)

    def _record_sent(self, sent: dict[str, set[str]]) -> None:
        inbox.mark_delivered_to_each(
            self.ctx, {party: sorted(subjects) for party, subjects in sent.items()}, "stream"
        )

    async def _poll(self, woken: asyncio.Event | None, unwatch: Callable[[], None] | None) -> None:
        try:
            await self._ticks(woken)
        finally:
            if unwatch is not None:
                unwatch()

    async def _pause(self, woken: asyncio.Event | None) -> None:
        """Until the next tick: `tick_s`, then, with wake-ups, until one comes or `idle_s`."""
        await asyncio.sleep(self.tick_s)
        if woken is not None:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.idle_s):
                    await woken.wait()
            # Cleared before the read: a commit woken for from now on is read at the next tick.
            woken.clear()

    async def _ticks(self, woken: asyncio.Event | None) -> None:
        while self.open_streams > 0:
            tokens = sorted({s.token_id for subs in self._subscriptions.values() for s in subs})
            try:
                rows, revoked = await asyncio.to_thread(self._read_new, self.newest, tokens)
            except Exception:  # a failed read is logged and tried again next tick
                log.exception("event hub: reading new events failed")
                rows, revoked = [], set()
            self.ticks += 1
            if rows:
                self.newest = rows[-1]["id"]
                self._dispatch(rows, revoked)
            if self._sent:
                sent, self._sent = self._sent, defaultdict(set)
                try:
                    await asyncio.to_thread(self._record_sent, sent)
                except Exception:  # the events were sent all the same; a fetch may record
                    log.exception("event hub: recording deliveries failed")
            if len(rows) < SCAN_LIMIT:
                await self._pause(woken)

    def _dispatch(self, rows: list[dict[str, Any]], revoked: set[str]) -> None:
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                if subscription.token_id in revoked:
                    subscription.revoke()
        operators = self._subscriptions.get(OPERATOR, set())
        for row in rows:
            frame = frame_of(event_view(row))
            for subscription in operators:
                subscription.push(frame)
            for party in json.loads(row["audience_json"]):
                for subscription in self._subscriptions.get(party, ()):
                    if row["token_id"] in (None, subscription.token_id):
                        subscription.push(frame)


def _set_from_thread(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    with suppress(RuntimeError):  # the loop has closed: no stream is left to wake
        loop.call_soon_threadsafe(event.set)


def hub_of(app: FastAPI, ctx: Context) -> EventHub:
    """The app's hub, made on first use (a test may set `app.state.event_hub` beforehand)."""
    hub: EventHub | None = getattr(app.state, "event_hub", None)
    if hub is None:
        hub = EventHub(ctx)
        app.state.event_hub = hub
    return hub


def streams_full(hub: EventHub, instance: str) -> Response:
    """The answer when the hub already has its limit of open streams: 503 with Retry-After."""
    return problems.problem(
        "http-error",
        f"{hub.max_streams} event streams are open on this server, its limit; "
        "retry later or poll with Accept: application/json",
        instance=instance,
        status=503,
        headers={"Retry-After": str(hub.retry_after_s)},
    )


def event_source(
    frames: AsyncIterator[ServerSentEvent | bytes],
    hub: EventHub,
    release: Callable[[], Awaitable[None]],
) -> EventSourceResponse:
    """The stream's response: keep-alive comments on the hub's timer, a client that stops
    reading dropped, and `release` run once the response ends."""
    return EventSourceResponse(
        frames,
        ping=hub.ping_s,
        ping_message_factory=lambda: ServerSentEvent(comment="keep-alive"),
        send_timeout=hub.send_timeout_s,
        background=BackgroundTask(release),
    )
