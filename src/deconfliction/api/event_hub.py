"""The event hub: one poller per app wakes the open event streams when new events are stored.

Streams do not poll the database each on its own: the hub reads the newest event id every tick
(20 ms) on a worker thread — one cheap query however many streams are open — and, when events were
added, reads their audiences once and wakes only the streams of the parties concerned (and every
operator stream). It sees events written by any process on the same database file, e.g. the CLI.
A wake-up is only a hint: each stream then reads its own page from the store, which alone decides
what a token may see; streams also re-read on a timer, so a missed hint delays but never loses.

The hub starts with the first stream and stops by itself when the last one closes, so it needs
nothing from the app's lifespan. It also enforces the per-process limits of streaming.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from typing import Any

import anyio
from fastapi import FastAPI

from deconfliction.services.context import Context

log = logging.getLogger("deconfliction.events")

OPERATOR = "*"  # the key of operator streams, which are woken by every event
SCAN_LIMIT = 5_000  # new events read per tick; more are read on the next, without sleeping
STREAM_THREADS = 8  # worker threads for the streams' reads, so requests keep theirs
RECEIPTS_KEPT = 50_000  # (party, event) pairs remembered as already recorded as delivered


class _Signal:
    """The streams of one key: the current wake-up generation and how many are listening."""

    __slots__ = ("event", "listeners")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.listeners = 0

    def fire(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


class Subscription:
    """One open stream's place in the hub; `close()` it (more than once is harmless)."""

    def __init__(self, hub: EventHub, key: str) -> None:
        self._hub = hub
        self._key = key
        self._closed = False

    def signal(self) -> asyncio.Event:
        """The wake-up to wait for; take it *before* reading the store, so none is missed."""
        return self._hub._signals[self._key].event

    async def wait(self, signal: asyncio.Event, timeout: float) -> bool:
        """Until the signal fires (True) or `timeout` seconds pass (False)."""
        try:
            await asyncio.wait_for(signal.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub._leave(self._key)


class EventHub:
    """Wakes waiting streams when events are stored; limits how many streams may be open."""

    def __init__(
        self,
        ctx: Context,
        *,
        tick_s: float = 0.02,
        max_streams: int = 1_000,
        batch: int = 500,
        recheck_s: float = 30.0,
        ping_s: float = 15.0,
        send_timeout_s: float = 60.0,
        retry_after_s: int = 10,
    ) -> None:
        self.ctx = ctx
        self.tick_s = tick_s
        self.max_streams = max_streams
        self.batch = batch
        self.recheck_s = recheck_s
        self.ping_s = ping_s
        self.send_timeout_s = send_timeout_s
        self.retry_after_s = retry_after_s
        self.open_streams = 0
        self.newest = 0
        self.ticks = 0
        self._signals: dict[str, _Signal] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._receipts: OrderedDict[tuple[str, int], None] = OrderedDict()

    # Streams.

    def subscribe(self, party_id: str | None) -> Subscription | None:
        """A place for one more stream of a party (None: the operator); None when full."""
        if self.open_streams >= self.max_streams:
            return None
        key = OPERATOR if party_id is None else party_id
        self.open_streams += 1
        self._signals.setdefault(key, _Signal()).listeners += 1
        return Subscription(self, key)

    def _leave(self, key: str) -> None:
        self.open_streams -= 1
        signal = self._signals[key]
        signal.listeners -= 1
        if signal.listeners == 0:
            del self._signals[key]

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The worker threads streams read the store on, apart from those serving requests."""
        assert self._limiter is not None, "ready() first"
        return self._limiter

    def unrecorded(self, party_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events whose delivery to the party no other stream has recorded yet.

        Every stream of a party receives the same new events at the same moment; one of them
        records their delivery, the others skip the store altogether.
        """
        fresh = [e for e in events if (party_id, e["id"]) not in self._receipts]
        for event in fresh:
            self._receipts[(party_id, event["id"])] = None
        while len(self._receipts) > RECEIPTS_KEPT:
            self._receipts.popitem(last=False)
        return fresh

    def forget(self, party_id: str, events: list[dict[str, Any]]) -> None:
        """Recording these failed: let the next stream of the party try again."""
        for event in events:
            self._receipts.pop((party_id, event["id"]), None)

    async def ready(self) -> None:
        """Make sure the poller runs; returns once it knows the newest event id.

        A stream reads its first page only after this, so every event stored after that page is
        one the poller has not yet seen, and will wake the stream.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Served from another event loop than before (a test client, a restarted server):
            # waiting primitives belong to one loop, so start over on this one.
            self._loop, self._task, self._starting = loop, None, asyncio.Lock()
            self._limiter = anyio.CapacityLimiter(STREAM_THREADS)
            for signal in self._signals.values():
                signal.event = asyncio.Event()
        assert self._starting is not None
        async with self._starting:
            if self._task is None or self._task.done():
                self.newest = await asyncio.to_thread(self._read_newest)
                self._task = loop.create_task(self._poll(), name="event-hub")

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

    def _read_new(self, after: int) -> list[dict[str, Any]]:
        with self.ctx.store.read() as tx:
            if tx.last_event_id() <= after:
                return []
            return tx.events_after(None, "", after, SCAN_LIMIT)

    async def _poll(self) -> None:
        while self.open_streams > 0:
            try:
                rows = await asyncio.to_thread(self._read_new, self.newest)
            except Exception:  # a failed read is logged and tried again next tick
                log.exception("event hub: reading new events failed")
                rows = []
            self.ticks += 1
            if rows:
                self.newest = rows[-1]["id"]
                self._wake(rows)
            if len(rows) < SCAN_LIMIT:
                await asyncio.sleep(self.tick_s)

    def _wake(self, rows: list[dict[str, Any]]) -> None:
        keys = {OPERATOR}
        for row in rows:
            keys.update(json.loads(row["audience_json"]))
        for key in keys:
            signal = self._signals.get(key)
            if signal is not None:
                signal.fire()


def hub_of(app: FastAPI, ctx: Context) -> EventHub:
    """The app's hub, made on first use (a test may set `app.state.event_hub` beforehand)."""
    hub: EventHub | None = getattr(app.state, "event_hub", None)
    if hub is None:
        hub = EventHub(ctx)
        app.state.event_hub = hub
    return hub
