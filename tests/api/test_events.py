"""The live line, `GET /v1/events`: server-sent events through a real uvicorn server on 127.0.0.1,
read with httpx as a client would; and the JSON page for polling clients.

Resume after a disconnect gives exactly what was missed; a client offline for a day catches up;
each party's stream holds only events addressed to it about subjects it may see (for every event
type the scenario makes the service produce); streaming records first delivery in the inbox; one
hub wakes many streams; a revoked token's stream stops; the stream limit answers 503.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from backends import Database

from deconfliction.api.app import create_app
from deconfliction.api.event_hub import EventHub
from deconfliction.config import Settings
from deconfliction.services import line_status
from deconfliction.services.context import Context
from deconfliction.services.tokens import authenticate

from .conftest import (
    PROBLEM,
    MovableClock,
    Party,
    World,
    bearer,
    build_world,
    check_response,
    circle,
    iso,
    run_async,
    simple,
)

EVENT_STREAM = "text/event-stream"
TIMEOUT = 15.0  # generous: an event normally arrives within a few tens of milliseconds


# ---------------------------------------------------------------- a real server, a real client


class Server:
    """uvicorn serving the app on a free port of 127.0.0.1, in a thread of this process."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class CheckedHttp(httpx.Client):
    """An HTTP client that checks every (non-streamed) response like the API tests' client."""

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(method, url, **kwargs)
        check_response(response)
        return response


@dataclass
class Live:
    world: World
    url: str
    hub: EventHub
    ctx: Context
    database: Database

    def page(self, token: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Every event after `after` the token may see, through the JSON page, page by page."""
        events: list[dict[str, Any]] = []
        while True:
            response = self.world.client.get(
                "/v1/events",
                params={"after": after, "limit": limit},
                headers={**bearer(token), "Accept": "application/json"},
            )
            assert response.status_code == 200, response.text
            body = response.json()
            events += body["events"]
            if len(body["events"]) < limit:
                assert body["last_event_id"] == (events[-1]["id"] if events else after)
                return events
            after = body["last_event_id"]


@pytest.fixture
def live(
    ctx: Context, database: Database, clock: MovableClock, operator_token: str
) -> Iterator[Live]:
    # A quick scheduler, so reminders and escalations follow the moved clock at once; a small
    # batch, so catching up takes several; a short token re-check, so a revoked stream stops soon.
    app = create_app(ctx, Settings(db=database.url, scheduler_interval_s=0.05))
    hub = EventHub(ctx, batch=7, recheck_s=1.0)
    app.state.event_hub = hub
    server = Server(app)
    url = server.start()
    client = CheckedHttp(base_url=url, timeout=30)
    try:
        world = build_world(client, clock, database, operator_token)  # type: ignore[arg-type]
        yield Live(world, url, hub, ctx, database)
    finally:
        client.close()
        server.stop()


@dataclass
class Block:
    """One block of the stream as the SSE format defines it."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    @property
    def payload(self) -> dict[str, Any] | None:
        return json.loads("\n".join(self.data)) if self.data else None


class Stream:
    """One open `GET /v1/events` stream, read by a task into a queue of blocks (None at its end)."""

    def __init__(self, url: str, token: str, **params: Any) -> None:
        self.token = token
        self.headers = {**bearer(token), "Accept": EVENT_STREAM}
        if "last_event_id" in params:
            self.headers["Last-Event-ID"] = str(params.pop("last_event_id"))
        self.params = params
        self.client = httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30.0))
        self.blocks: asyncio.Queue[Block | None] = asyncio.Queue()
        self.received: list[dict[str, Any]] = []
        self.ended = False
        self.start_id: int | None = None

    async def open(self) -> Stream:
        request = self.client.build_request(
            "GET", "/v1/events", params=self.params, headers=self.headers
        )
        self.response = await self.client.send(request, stream=True)
        assert self.response.status_code == 200, await self.response.aread()
        assert self.response.headers["content-type"].startswith(EVENT_STREAM)
        assert self.response.headers["x-content-type-options"] == "nosniff"
        self.task = asyncio.create_task(self._read())
        first = await self.block()
        # The stream opens with its resume point: an id with no data (nothing is dispatched).
        assert first is not None and first.id is not None and not first.data, first
        assert first.retry is not None
        self.start_id = int(first.id)
        return self

    async def _read(self) -> None:
        block, seen = Block(), False
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if seen:
                        await self.blocks.put(block)
                    block, seen = Block(), False
                    continue
                seen = True
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    block.comments.append(value)
                elif name == "data":
                    block.data.append(value)
                elif name == "id":
                    block.id = value
                elif name == "event":
                    block.event = value
                elif name == "retry":
                    block.retry = int(value)
        except httpx.HTTPError:
            pass
        finally:
            await self.blocks.put(None)

    async def block(self, timeout: float = TIMEOUT) -> Block | None:
        if self.ended:
            return None
        block = await asyncio.wait_for(self.blocks.get(), timeout)
        if block is None:
            self.ended = True
        return block

    async def events(self, count: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """The next `count` events (comments skipped); fails if they do not come in time."""
        deadline = time.monotonic() + timeout
        got: list[dict[str, Any]] = []
        while len(got) < count:
            block = await self.block(max(0.01, deadline - time.monotonic()))
            assert block is not None, f"the stream ended after {len(got)} of {count} events"
            if block.payload is not None:
                event = block.payload
                assert block.id == str(event["id"]) and block.event == event["type"], block
                got.append(event)
        self.received += got
        return got

    async def quiet(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        """Whatever events arrive within `seconds` (to show that nothing more does)."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                block = await self.block(left)
            except TimeoutError:
                break
            if block is None:
                break
            if block.payload is not None:
                got.append(block.payload)
        return got

    async def until_end(self, timeout: float = TIMEOUT) -> list[Block]:
        """Every block until the server ends the stream; fails if it does not end in time."""
        blocks = []
        deadline = time.monotonic() + timeout
        while (block := await self.block(max(0.01, deadline - time.monotonic()))) is not None:
            blocks.append(block)
        return blocks

    async def close(self) -> None:
        if hasattr(self, "task"):
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            await self.response.aclose()
        await self.client.aclose()


async def opened(url: str, token: str, **params: Any) -> Stream:
    return await Stream(url, token, **params).open()


def ids(events: list[dict[str, Any]]) -> list[int]:
    return [e["id"] for e in events]


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A blocking API call from async test code, off the event loop the streams are read on."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def wait_until(condition: Any, timeout: float = TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def settled(live: Live, quiet_s: float = 0.5) -> None:
    """Wait until the server's scheduler has done what the moved clock made due."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < quiet_s:
        newest = _stored_events(live.database)[0][-1]["id"]
        if newest != last:
            last, since = newest, time.monotonic()
        time.sleep(0.05)


def conflict_pair(live: Live, lon: float = 37.0, lat: float = 36.5) -> tuple[str, str, str]:
    """NORTH and SOUTH notify overlapping activity: (NORTH's id, SOUTH's id, the conflict id)."""
    w = live.world
    n = w.notify(w.north, simple(w.clock, circle(lon, lat, 5_000), title="north"))
    s = w.notify(w.south, simple(w.clock, circle(lon + 0.02, lat, 2_000), title="south"))
    assert len(s["conflicts"]) == 1, s
    return n["id"], s["id"], s["conflicts"][0]["id"]


_far = iter(range(10_000))


def far_away(live: Live, party: Party) -> str:
    """A notification of `party` near nothing else: one notification.created event for it."""
    step = next(_far)
    lon, lat = -60.0 + (step % 50) * 0.3, -30.0 - (step // 50) * 0.3
    return live.world.notify(party, simple(live.world.clock, circle(lon, lat, 1_000)))["id"]


# ---------------------------------------------------------------- resume, catch up


def test_resume_after_disconnect_gives_exactly_the_missed_events(live: Live) -> None:
    w = live.world

    async def scenario() -> None:
        first = await opened(live.url, w.north.token)  # live only: starts after the newest
        await call(conflict_pair, live)
        await call(far_away, live, w.north)
        expected = live.page(w.north.token, after=first.start_id or 0)
        assert len(expected) >= 3
        seen = await first.events(2)
        assert ids(seen) == ids(expected[:2])
        await first.close()  # the client drops off after two events

        await call(far_away, live, w.north)
        _, s_id, _ = await call(conflict_pair, live, 20.0, 10.0)
        await call(w.client.post, f"/v1/notifications/{s_id}/cancel", headers=w.south.headers)
        missed = live.page(w.north.token, after=seen[-1]["id"])
        assert len(missed) >= len(expected) - 2 + 3

        again = await opened(live.url, w.north.token, last_event_id=seen[-1]["id"])
        assert again.start_id == seen[-1]["id"]
        got = await again.events(len(missed))
        assert got == missed  # in order, the same events, none left out
        assert await again.quiet() == []  # and none repeated
        await again.close()
        assert ids(seen + got) == ids(live.page(w.north.token, after=first.start_id or 0))

    run_async(scenario())


def test_last_event_id_takes_precedence_over_after(live: Live) -> None:
    w = live.world
    for _ in range(3):
        far_away(live, w.aid)
    everything = live.page(w.aid.token)
    assert len(everything) == 3

    async def scenario() -> None:
        # An EventSource reconnects to the same URL (with ?after=0) adding Last-Event-ID.
        stream = await opened(live.url, w.aid.token, after=0, last_event_id=everything[0]["id"])
        assert await stream.events(2) == everything[1:]
        assert await stream.quiet() == []
        await stream.close()

    run_async(scenario())


def test_a_client_offline_for_a_day_catches_up(live: Live) -> None:
    w = live.world

    async def scenario() -> None:
        stream = await opened(live.url, w.south.token, after=0)
        await call(conflict_pair, live)
        last = (await stream.events(2))[-1]["id"]
        await stream.close()
        # A day passes with the client off the line; the service keeps working.
        for hour in range(24):
            w.clock.advance(hours=1)
            await call(far_away, live, w.south)
            if hour % 6 == 0:
                await call(conflict_pair, live, 10.0 + hour, 5.0)
        # Reminders, escalations and silence alarms fell due during the day: they are missed too.
        await call(settled, live)
        missed = live.page(w.south.token, after=last)
        paged = live.page(w.south.token, after=last, limit=5)  # small pages: the same list
        assert paged == missed and len(missed) > 3 * live.hub.batch
        back = await opened(live.url, w.south.token, after=last)
        got = await back.events(len(missed))  # read in several batches of hub.batch
        assert got == missed and ids(got) == sorted(set(ids(got)))
        assert await back.quiet() == []
        await back.close()

    run_async(scenario())


def test_without_a_cursor_the_stream_is_live_only(live: Live) -> None:
    w = live.world
    far_away(live, w.north)
    stored = live.page(w.north.token)

    async def scenario() -> None:
        stream = await opened(live.url, w.north.token)
        assert stream.start_id is not None and stream.start_id >= stored[-1]["id"]
        assert await stream.quiet(0.3) == []
        new = await call(far_away, live, w.north)
        (event,) = await stream.events(1)
        assert event["subject_id"] == new and event["type"] == "notification.created"
        assert set(event) == {"id", "type", "mechanism_id", "subject_id", "created_at", "data"}
        assert event["mechanism_id"] == w.mechanism_id and event["data"]["notification_id"] == new
        await stream.close()

    run_async(scenario())


def test_keep_alive_comments_while_nothing_happens(live: Live) -> None:
    live.hub.ping_s = 0.3

    async def scenario() -> None:
        stream = await opened(live.url, live.world.aid.token)
        block = await stream.block(5)
        assert block is not None and block.comments == ["keep-alive"] and not block.data
        await stream.close()

    run_async(scenario())


def test_events_written_by_another_process_reach_open_streams(live: Live) -> None:
    """The CLI or a second server on the same database file: the hub sees its events too."""
    w = live.world
    body = simple(w.clock, circle(-40.0, -40.0, 1_000), title="from another process")
    script = (
        "import json, sys\n"
        "from datetime import datetime\n"
        "from deconfliction.services import notifications\n"
        "from deconfliction.runtime import open_context\n"
        "from deconfliction.services.context import Actor\n"
        "url, key, token_id, party, mechanism, body, now = sys.argv[1:]\n"
        "ctx, _ = open_context(url, key or None, clock=lambda: datetime.fromisoformat(now))\n"
        "view = notifications.notify(ctx, Actor(token_id, party), mechanism_id=mechanism,\n"
        "                            body=json.loads(body))\n"
        "print(view['id'])\n"
    )

    async def scenario() -> None:
        stream = await opened(live.url, w.aid.token)
        key = str(live.database.key_file or "")
        args = [live.database.url, key, w.aid.token_id, w.aid.id, w.mechanism_id]
        args += [json.dumps(body), iso(w.clock.now)]
        done = await call(
            subprocess.run, [sys.executable, "-c", script, *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        (event,) = await stream.events(1)
        assert event["subject_id"] == done.stdout.strip()
        await stream.close()

    run_async(scenario())


# ---------------------------------------------------------------- isolation, for every event type


def _subject_url(subject_id: str) -> str:
    prefix = subject_id.split("_", 1)[0]
    paths = {"ntf": "/v1/notifications/", "cfl": "/v1/conflicts/", "msg": "/v1/messages/"}
    assert prefix in paths, (
        f"events about {subject_id!r}: this test has no way to check who may see such a "
        "subject; add its GET route here"
    )
    return paths[prefix] + subject_id


def _stored_events(database: Database) -> tuple[list[dict[str, Any]], dict[int, set[str]]]:
    """Every stored event and its audience, read from the database itself (not through the API)."""
    columns = ("id", "type", "mechanism_id", "subject_id", "payload_json", "token_id")
    rows = database.rows(f"SELECT {', '.join(columns)} FROM events ORDER BY id")
    events = [dict(zip(columns, row, strict=True)) for row in rows]
    audience: dict[int, set[str]] = {}
    for party, event_id in database.rows("SELECT party_id, event_id FROM event_audience"):
        audience.setdefault(event_id, set()).add(party)
    return events, audience


def _produce_every_kind_of_event(live: Live) -> dict[str, Party]:
    """Drive the line through the API until it has produced every type of event it can."""
    w = live.world
    routes = set(w.client.get("/openapi.json").json()["paths"])
    assert "/v1/mechanisms/{mechanism_id}/messages" in routes, "the messages API is missing"
    duty = Party("AID-duty", w.aid.id, *w.new_token(w.aid.id))
    escalation = w.client.put(
        f"/v1/mechanisms/{w.mechanism_id}/escalation",
        json={"token_id": duty.token_id},
        headers=w.aid.headers,
    )
    assert escalation.status_code == 200, escalation.text

    n1, s1, c1 = conflict_pair(live)  # notification.created ×2, conflict.detected, messages
    body = simple(w.clock, circle(37.0, 36.5, 5_000), hours=(3, 7), title="north, later")
    revised = w.client.put(
        f"/v1/notifications/{n1}", json=body, headers={**w.north.headers, "If-Match": '"1"'}
    )
    assert revised.status_code == 200, revised.text  # notification.revised, conflict.updated
    for path, party in ((f"/v1/conflicts/{c1}", w.south), (f"/v1/notifications/{s1}", w.north)):
        acked = w.client.post(path + "/acknowledge", headers=party.headers)
        assert acked.status_code == 200, acked.text  # conflict/notification.acknowledged
    a1 = far_away(live, w.aid)
    sent = w.client.post(
        f"/v1/mechanisms/{w.mechanism_id}/messages",
        json={"to": [w.south.id], "type": "query", "body": "Your convoy's route, please?"},
        headers=w.north.headers,
    )
    assert sent.status_code == 201, sent.text  # message.sent
    acked = w.client.post(f"/v1/messages/{sent.json()['id']}/acknowledge", headers=w.south.headers)
    assert acked.status_code == 200, acked.text  # message.acknowledged
    urgent = w.client.post(
        f"/v1/mechanisms/{w.mechanism_id}/messages",
        json={"to": [w.aid.id], "type": "notice", "body": "Strike window", "priority": "urgent"},
        headers=w.north.headers,
    )
    assert urgent.status_code == 201, urgent.text
    cancelled = w.client.post(f"/v1/notifications/{s1}/cancel", headers=w.south.headers)
    assert cancelled.status_code == 200, cancelled.text  # notification.cancelled, resolved

    full = w.new_mechanism({"disclosure": "full"}, members=("NORTH", "AID"))
    w.notify(w.north, simple(w.clock, circle(10.0, 50.0)), mechanism_id=full)  # to all members
    # Nobody acknowledges the urgent message: the deadline passes, then the escalation interval
    # (the server's own scheduler acts on the moved clock): line.reminder, line.overdue, and
    # line.escalation addressed to AID's duty officer's token alone.
    w.clock.advance(minutes=11)
    wait_until(lambda: "line.reminder" in _types(live), what="a reminder")
    w.clock.advance(minutes=16)
    wait_until(lambda: "line.escalation" in _types(live), what="an escalation")
    settled(live)
    assert a1
    return {**w.parties, "AID-duty": duty}


def _types(live: Live) -> set[str]:
    return {e["type"] for e in _stored_events(live.database)[0]}


def test_each_party_sees_only_events_addressed_to_it_about_what_it_may_see(live: Live) -> None:
    w = live.world
    parties = _produce_every_kind_of_event(live)
    stored, audience = _stored_events(live.database)
    types = sorted({e["type"] for e in stored})
    print("event types produced:", ", ".join(types))
    assert {
        "notification.created",
        "notification.revised",
        "notification.cancelled",
        "notification.acknowledged",
        "conflict.detected",
        "conflict.updated",
        "conflict.resolved",
        "conflict.acknowledged",
        "message.sent",
        "message.acknowledged",
        "line.reminder",
        "line.overdue",
        "line.escalation",
    } <= set(types)

    delivered: dict[str, set[str]] = {t: set() for t in types}
    for name, party in parties.items():
        events = live.page(party.token)
        # Exactly the stored events whose audience includes the party (and, when addressed to
        # one token, only that token's), in id order.
        due = [
            e["id"]
            for e in stored
            if party.id in audience.get(e["id"], set()) and e["token_id"] in (None, party.token_id)
        ]
        assert ids(events) == due, name
        for event in events:
            delivered[event["type"]].add(name)
            seen = w.client.get(_subject_url(event["subject_id"]), headers=party.headers)
            assert seen.status_code == 200, (name, event, seen.text)
        if name == "OUTSIDER":
            assert events == []

        async def streamed(token: str = party.token, count: int = len(events)) -> Any:
            stream = await opened(live.url, token, after=0)
            got = await stream.events(count)
            extra = await stream.quiet(0.3)
            await stream.close()
            return got + extra

        assert run_async(streamed()) == events, name  # the stream carries the same events

    # AID's escalations go to its duty officer's token alone, not to AID's everyday token.
    escalations = [e for e in stored if e["type"] == "line.escalation"]
    assert {tuple(audience[e["id"]]) for e in escalations if e["token_id"]} == {(w.aid.id,)}
    assert all(e["token_id"] == parties["AID-duty"].token_id for e in escalations if e["token_id"])
    assert "AID-duty" in delivered["line.escalation"] and "AID" not in delivered["line.escalation"]
    assert all(delivered[t] for t in types), "every type reaches someone"
    operator = live.page(live.world.operator["Authorization"].removeprefix("Bearer "))
    assert ids(operator) == [e["id"] for e in stored]  # the operator sees every event

    revoked = w.new_party("GONE")
    w.client.delete(f"/v1/tokens/{revoked.token_id}", headers=w.operator)
    for headers in ({}, revoked.headers, {"Authorization": "Bearer dcf_not-a-token"}):
        for accept in ("application/json", EVENT_STREAM):
            refused = w.client.get("/v1/events?after=0", headers={**headers, "Accept": accept})
            assert refused.status_code == 401, refused.text


# ---------------------------------------------------------------- delivery receipts


def test_streaming_records_the_first_delivery_of_each_subject(live: Live) -> None:
    w = live.world
    _, _, c1 = conflict_pair(live)

    def item(party: Party, subject: str) -> dict[str, Any]:
        with live.ctx.store.read() as tx:
            row = tx.inbox_item(party.id, subject)
        assert row is not None, (
            f"no inbox item for {party.code} and conflict {subject}: a conflict must put an item "
            "in each party's inbox (the line's acknowledgement work) before delivery is recorded"
        )
        return row

    assert item(w.north, c1)["delivered_at"] is None
    south_before = item(w.south, c1)

    def stored_for(token: str) -> int:
        # Counted in the store: fetching a page would itself record a ("fetched") delivery.
        caller = authenticate(live.ctx, token)
        with live.ctx.store.read() as tx:
            return len(tx.events_after(caller.party_id, caller.token_id, 0, 100_000))

    async def read(token: str) -> list[dict[str, Any]]:
        wanted = stored_for(token)
        stream = await opened(live.url, token, after=0)
        got = await stream.events(wanted)
        await stream.close()
        return got

    operator_token = w.operator["Authorization"].removeprefix("Bearer ")
    run_async(read(operator_token))
    time.sleep(0.3)
    assert item(w.north, c1)["delivered_at"] is None  # the operator's reading delivers nothing

    north_events = run_async(read(w.north.token))
    assert c1 in {e["subject_id"] for e in north_events}
    wait_until(lambda: item(w.north, c1)["delivered_at"] is not None, what="delivery")
    assert item(w.north, c1)["delivered_via"] == "stream"
    with live.ctx.store.read() as tx:
        items = tx.inbox_items(
            party_id=w.north.id, mechanism_id=None, pending_only=False, overdue_at=None, limit=100
        )
    streamed = {e["subject_id"] for e in north_events}
    for row in items:  # every item whose subject was streamed, the system messages too
        assert row["subject_id"] in streamed and row["delivered_via"] == "stream", row
    first = item(w.north, c1)["delivered_at"]
    run_async(read(w.north.token))
    time.sleep(0.3)
    assert item(w.north, c1)["delivered_at"] == first  # the *first* delivery is kept

    live.page(w.south.token)  # the JSON page: "fetched", unless delivered before
    south = item(w.south, c1)
    assert south["delivered_at"] is not None
    if south_before["delivered_at"] is None:
        assert south["delivered_via"] == "fetched"
    else:
        assert south["delivered_via"] == south_before["delivered_via"]


# ---------------------------------------------------------------- the hub, limits, revocation


def test_one_hub_wakes_fifty_open_streams(live: Live) -> None:
    w = live.world

    async def scenario() -> None:
        tokens = [w.north.token if i % 2 else w.south.token for i in range(50)]
        streams = await asyncio.gather(*(opened(live.url, token) for token in tokens))
        assert live.hub.open_streams == 50 and live.hub.running
        ticks = live.hub.ticks
        written = time.monotonic()
        _, _, c1 = await call(conflict_pair, live)
        written_after = time.monotonic() - written

        async def first_conflict(stream: Stream) -> float:
            while True:
                (event,) = await stream.events(1)
                if event["type"] == "conflict.detected":
                    assert event["subject_id"] == c1
                    return time.monotonic() - written

        arrivals = sorted(await asyncio.gather(*(first_conflict(s) for s in streams)))
        print(
            f"\n50 streams: the request took {written_after * 1000:.0f} ms; the conflict reached "
            f"the streams {arrivals[0] * 1000:.0f}–{arrivals[-1] * 1000:.0f} ms after it was sent "
            f"(median {arrivals[25] * 1000:.0f} ms); hub ticks meanwhile: {live.hub.ticks - ticks}"
        )
        await asyncio.gather(*(s.close() for s in streams))

    run_async(scenario())
    # Disconnected clients free their place, and the poller stops with the last stream.
    wait_until(lambda: live.hub.open_streams == 0, what="streams to close")
    wait_until(lambda: not live.hub.running, what="the poller to stop")


def test_over_the_stream_limit_is_503_with_retry_after(live: Live) -> None:
    live.hub.max_streams = 2
    w = live.world

    async def scenario() -> None:
        a = await opened(live.url, w.north.token)
        b = await opened(live.url, w.south.token)
        # (The checking client takes any 5xx for a server error; this one is meant.)
        refused = await call(httpx.get, f"{live.url}/v1/events", headers=w.aid.headers)
        assert refused.status_code == 503 and refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["status"] == 503
        assert int(refused.headers["retry-after"]) > 0
        assert "application/json" in refused.json()["detail"]  # polling still works
        page = await call(
            w.client.get, "/v1/events", headers={**w.aid.headers, "Accept": "application/json"}
        )
        assert page.status_code == 200
        await a.close()
        await call(wait_until, lambda: live.hub.open_streams == 1, what="a place")
        c = await opened(live.url, w.aid.token)
        await asyncio.gather(b.close(), c.close())

    run_async(scenario())


def test_a_revoked_tokens_stream_stops(live: Live) -> None:
    w = live.world
    token, token_id = w.new_token(w.north.id)
    quiet_token, quiet_id = w.new_token(w.north.id)

    async def scenario() -> None:
        stream = await opened(live.url, token)
        quiet = await opened(live.url, quiet_token)
        await call(far_away, live, w.north)
        assert len(await stream.events(1)) == 1 and len(await quiet.events(1)) == 1

        # Revoked, then an event for the party wakes the stream: it ends instead of sending it.
        await call(w.client.delete, f"/v1/tokens/{token_id}", headers=w.operator)
        await call(far_away, live, w.north)
        tail = await stream.until_end()
        assert not any(b.data for b in tail), tail
        assert any("no longer valid" in c for b in tail for c in b.comments)

        # Revoked while nothing happens: the periodic re-check (recheck_s) ends it.
        await call(w.client.delete, f"/v1/tokens/{quiet_id}", headers=w.operator)
        began = time.monotonic()
        (next_event,) = await quiet.events(1)  # the event above, sent before the revocation
        tail = await quiet.until_end(timeout=live.hub.recheck_s + 10)
        print(f"\nthe idle revoked stream ended {time.monotonic() - began:.1f} s after revocation")
        assert next_event["type"] == "notification.created" and not any(b.data for b in tail)
        await asyncio.gather(stream.close(), quiet.close())

    run_async(scenario())
    refused = w.client.get("/v1/events", headers={**bearer(token), "Accept": EVENT_STREAM})
    assert refused.status_code == 401


# ---------------------------------------------------------------- the JSON page: bad input


def test_the_page_refuses_bad_cursors_and_limits_naming_the_field(live: Live) -> None:
    w = live.world
    far_away(live, w.north)
    page = {**w.north.headers, "Accept": "application/json"}
    cases = [
        ({"after": "-1"}, {}, "after"),
        ({"after": "x"}, {}, "after"),
        ({"limit": "0"}, {}, "limit"),
        ({"limit": "1001"}, {}, "limit"),
        ({"after": "999999"}, {}, "after"),  # ahead of every stored event: another database?
        ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
        ({}, {"Last-Event-ID": "-3"}, "Last-Event-ID"),
        ({}, {"Last-Event-ID": "99999999999999999999999"}, "Last-Event-ID"),
    ]
    for params, headers, field_name in cases:
        for accept in ("application/json", EVENT_STREAM):
            response = w.client.get(
                "/v1/events", params=params, headers={**page, **headers, "Accept": accept}
            )
            assert response.status_code == 422, (params, headers, response.text)
            assert [e["field"] for e in response.json()["errors"]] == [field_name]
    first = w.client.get("/v1/events", params={"limit": 1}, headers=page).json()
    assert len(first["events"]) == 1  # a page without a cursor starts at the beginning
    assert first["last_event_id"] == first["events"][0]["id"]
    newest = _stored_events(live.database)[0][-1]["id"]
    empty = w.client.get("/v1/events", params={"after": newest}, headers=page)
    assert empty.status_code == 200 and empty.json() == {"events": [], "last_event_id": newest}


def test_a_party_listening_on_the_stream_is_in_contact(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open stream is the party on the line: its contact is recorded while it listens."""
    monkeypatch.setattr(line_status, "TOUCH_EVERY_S", 0.0)
    w = live.world

    def last_seen() -> str | None:
        with live.ctx.store.read() as tx:
            return tx.last_seen([w.north.id]).get(w.north.id)

    async def scenario() -> None:
        stream = await opened(live.url, w.north.token)
        moved = iso(w.clock.advance(hours=2))  # no request from NORTH in two hours…
        await call(wait_until, lambda: (last_seen() or "")[:19] == moved[:19], what="contact")
        await stream.close()

    run_async(scenario())
