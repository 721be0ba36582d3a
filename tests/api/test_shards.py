"""A deployment over two databases (two SQLite files, or two PostgreSQL databases on the local
server under DECONFLICTION_TEST_DB): the routing table, mechanisms on either shard, the directory
copied from the home shard, requests routed by what they name, lists merged across shards, and
each shard's own log under the one key."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from backends import Database, Databases

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.errors import InvalidInput, NotFound
from deconfliction.keyfile import KeyFileError, read_key
from deconfliction.proof import key_rotation
from deconfliction.proof.tree_head import SignedTreeHead, key_id, verify_tree_head
from deconfliction.runtime import open_context
from deconfliction.services import mechanism_move
from deconfliction.services.audit import audit_log
from deconfliction.services.tokens import create_operator_token
from deconfliction.sharding import routing_table
from deconfliction.sharding.deployment import Deployment, open_deployment
from deconfliction.sharding.merge import instant
from deconfliction.storage import open_store
from deconfliction.storage.sqlite.mechanism_rows import OF_MECHANISM

from .conftest import CheckedClient, MovableClock, Party, bearer, circle, run_async, simple
from .test_events import CheckedHttp, Server
from .test_proof import check_receipt
from .webhook_receiver import Receiver


@dataclass
class Sharded:
    """Two shards, `home` and `east`; NORTH and SOUTH members of one mechanism on each."""

    client: Any
    clock: MovableClock
    deployment: Deployment
    home_db: Database
    east_db: Database
    key_file: Path
    operator: dict[str, str]
    west: str  # a mechanism on the home shard
    east: str  # a mechanism on the east shard
    north: Party
    south: Party

    def notify(self, party: Party, mechanism: str, lon: float) -> dict[str, Any]:
        body = simple(self.clock, circle(lon, 36.0, 3_000))
        made = self.client.post(
            f"/v1/mechanisms/{mechanism}/notifications", json=body, headers=party.headers
        )
        assert made.status_code == 201, made.text
        result: dict[str, Any] = made.json()
        return result


def table_text(home: Database, east: Database, placed: str = "") -> str:
    return f'[shards]\nhome = "{home.url}"\neast = "{east.url}"\n[mechanisms]\n{placed}'


def _party(client: Any, operator: dict[str, str], code: str) -> Party:
    made = client.post("/v1/parties", json={"name": code.title(), "code": code}, headers=operator)
    assert made.status_code == 201, made.text
    token = client.post(f"/v1/parties/{made.json()['id']}/tokens", json={}, headers=operator)
    assert token.status_code == 201, token.text
    return Party(code, made.json()["id"], token.json()["token"], token.json()["id"])


def _open(
    databases: Databases, tmp_path: Path, clock: MovableClock
) -> tuple[Deployment, Database, Database, Path, dict[str, str]]:
    home_db, east_db = databases.new("home.db"), databases.new("east.db")
    key_file = tmp_path / "service.signing-key"
    table = routing_table.parse(table_text(home_db, east_db))
    deployment, created = open_deployment(table, str(key_file), clock)
    assert created
    operator = bearer(create_operator_token(deployment.home))
    deployment.copy_directory()
    return deployment, home_db, east_db, key_file, operator


def _populate(
    client: Any,
    clock: MovableClock,
    opened: tuple[Deployment, Database, Database, Path, dict[str, str]],
) -> Sharded:
    deployment, home_db, east_db, key_file, operator = opened
    north = _party(client, operator, "NORTH")
    south = _party(client, operator, "SOUTH")
    mechanisms = {}
    for shard in ("home", "east"):
        made = client.post(
            "/v1/mechanisms", json={"name": f"on {shard}", "shard": shard}, headers=operator
        )
        assert made.status_code == 201, made.text
        mechanisms[shard] = made.json()["id"]
        clock.advance(seconds=1)
        for party in (north, south):
            joined = client.post(
                f"/v1/mechanisms/{mechanisms[shard]}/members",
                json={"party_id": party.id},
                headers=operator,
            )
            assert joined.status_code == 201, joined.text
    return Sharded(
        client,
        clock,
        deployment,
        home_db,
        east_db,
        key_file,
        operator,
        mechanisms["home"],
        mechanisms["east"],
        north,
        south,
    )


@pytest.fixture
def sharded(databases: Databases, tmp_path: Path, clock: MovableClock) -> Iterator[Sharded]:
    opened = _open(databases, tmp_path, clock)
    app = create_app(opened[0], Settings(shards=str(tmp_path / "shards.toml")))
    try:
        with CheckedClient(app) as client:
            yield _populate(client, clock, opened)
    finally:
        opened[0].close()


@pytest.fixture
def sharded_live(databases: Databases, tmp_path: Path, clock: MovableClock) -> Iterator[Sharded]:
    """The same deployment served by uvicorn on 127.0.0.1, for the event stream."""
    opened = _open(databases, tmp_path, clock)
    settings = Settings(shards=str(tmp_path / "shards.toml"), webhook_allow_private=True)
    server = Server(create_app(opened[0], settings))
    client = CheckedHttp(base_url=server.start(), timeout=30)
    try:
        yield _populate(client, clock, opened)
    finally:
        client.close()
        server.stop()
        opened[0].close()


def move_east(s: Sharded, source: str, target: str) -> mechanism_move.Moved:
    """Move the mechanism made on `east` from shard `source` to shard `target`."""
    return mechanism_move.move(
        s.east,
        source=s.deployment.contexts[source],
        source_name=source,
        target=s.deployment.contexts[target],
        target_name=target,
    )


def held(db: Database, table: str, row_id: str) -> bool:
    return bool(db.rows(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)))


def test_each_mechanism_lives_whole_on_its_shard_and_requests_find_it(sharded: Sharded) -> None:
    s = sharded
    assert held(s.home_db, "mechanisms", s.west) and not held(s.east_db, "mechanisms", s.west)
    assert held(s.east_db, "mechanisms", s.east) and not held(s.home_db, "mechanisms", s.east)
    # The directory is on both: the parties and their tokens, copied from the home shard.
    for db in (s.home_db, s.east_db):
        assert held(db, "parties", s.north.id) and held(db, "tokens", s.south.token_id)

    first = s.notify(s.north, s.east, 37.0)
    second = s.notify(s.south, s.east, 37.01)
    assert [c["other_notification"] for c in second["conflicts"]] == [first["id"]]
    assert held(s.east_db, "notifications", second["id"])
    assert not held(s.home_db, "notifications", second["id"])
    conflict_id = second["conflicts"][0]["id"]
    assert held(s.east_db, "conflicts", conflict_id)

    # Routes naming a notification or a conflict reach the east shard.
    fetched = s.client.get(f"/v1/notifications/{first['id']}", headers=s.south.headers)
    assert fetched.status_code == 200 and fetched.json()["id"] == first["id"]
    acked = s.client.post(f"/v1/conflicts/{conflict_id}/acknowledge", headers=s.north.headers)
    assert acked.status_code == 200, acked.text
    revised = s.client.post(
        f"/v1/notifications/{first['id']}/cancel", json={"reason": "done"}, headers=s.north.headers
    )
    assert revised.status_code == 200, revised.text
    missing = s.client.get("/v1/notifications/ntf_0000000000000000", headers=s.north.headers)
    assert missing.status_code == 404


def test_lists_span_both_shards(sharded: Sharded) -> None:
    s = sharded
    s.notify(s.north, s.west, 30.0)
    s.notify(s.south, s.west, 30.01)
    s.clock.advance(minutes=1)
    s.notify(s.north, s.east, 40.0)
    s.notify(s.south, s.east, 40.01)
    mechanisms = s.client.get("/v1/mechanisms", headers=s.north.headers).json()
    assert [m["id"] for m in mechanisms] == [s.west, s.east]
    conflicts = s.client.get("/v1/conflicts", headers=s.north.headers).json()
    assert [c["mechanism_id"] for c in conflicts] == [s.west, s.east]  # oldest first
    only_east = s.client.get(
        "/v1/conflicts", params={"mechanism": s.east}, headers=s.north.headers
    ).json()
    assert [c["mechanism_id"] for c in only_east] == [s.east]
    one = s.client.get("/v1/conflicts", params={"limit": 1}, headers=s.north.headers).json()
    assert [c["mechanism_id"] for c in one] == [s.west]

    for mechanism, lon in ((s.west, 30.0), (s.east, 40.0)):
        sent = s.client.post(
            f"/v1/mechanisms/{mechanism}/messages",
            json={"to": [s.south.id], "type": "notice", "body": f"convoy at {lon}"},
            headers=s.north.headers,
        )
        assert sent.status_code == 201, sent.text
        s.clock.advance(minutes=1)
    received = s.client.get("/v1/messages", params={"folder": "inbox"}, headers=s.south.headers)
    notices = [m for m in received.json() if m["body"].startswith("convoy at")]
    assert [m["mechanism_id"] for m in notices] == [s.east, s.west]  # newest first
    stamps = [instant(m["created_at"]) for m in received.json()]
    assert stamps == sorted(stamps, reverse=True) and len(received.json()) > len(notices)
    waiting = s.client.get("/v1/inbox", headers=s.south.headers).json()
    assert {item["mechanism_id"] for item in waiting} == {s.west, s.east}
    deadlines = [instant(item["deadline"]) for item in waiting]
    assert deadlines == sorted(deadlines)  # by deadline, across both shards


def test_each_shard_keeps_its_own_log_signed_with_the_one_key(sharded: Sharded) -> None:
    s = sharded
    west = s.notify(s.north, s.west, 30.0)["receipt"]["tree_head"]
    east = s.notify(s.north, s.east, 40.0)["receipt"]["tree_head"]
    assert west["log_id"] != east["log_id"]
    key = read_key(s.key_file).verify_key
    for head in (west, east):
        assert verify_tree_head(SignedTreeHead.from_json(head), key)
    for db, head in ((s.home_db, west), (s.east_db, east)):
        assert db.rows("SELECT log_id FROM log_identity") == [(head["log_id"],)]
    keys = {
        row[0]
        for db in (s.home_db, s.east_db)
        for row in db.rows("SELECT public_key FROM service_keys")
    }
    assert keys == {base64.b64encode(bytes(key)).decode()}


def _key_ids(db: Database) -> list[tuple[str, bool]]:
    """The keys a shard's log has used, the retired first, and whether each is active."""
    rows = db.rows("SELECT key_id, retired_at FROM service_keys ORDER BY retired_at IS NULL")
    return [(key, retired is None) for key, retired in rows]


def _check_rotated(s: Sharded, old: bytes, new: bytes) -> None:
    """Both shards' logs announce `new` (signed by `old`), sign with it, and pass the audit."""
    for db in (s.home_db, s.east_db):
        assert _key_ids(db) == [(key_id(old), False), (key_id(new), True)]
        ((data,),) = db.rows("SELECT entry_json FROM log_entries WHERE kind = 'key.rotated'")
        assert key_rotation.verify(json.loads(data)["data"], old) == new
    for mechanism in (s.west, s.east):
        check_receipt(s.notify(s.north, mechanism, 30.0)["receipt"], new)
    for ctx in s.deployment.contexts.values():
        report = audit_log(ctx.store)
        assert report.ok and report.rotations == 1, report.findings


def test_a_key_rotation_is_announced_in_every_shard_s_log(sharded: Sharded) -> None:
    s = sharded
    old = bytes(read_key(s.key_file).verify_key)
    rotated = s.client.post("/v1/log/keys/rotate", headers=s.operator)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    new = bytes(read_key(s.key_file).verify_key)
    assert new != old and not s.key_file.with_name(s.key_file.name + ".next").exists()
    assert [shard["shard"] for shard in body["shards"]] == ["home", "east"]
    assert body["receipt"] == body["shards"][0]["receipt"]  # the top level is the home shard's
    logs = set()
    for shard in body["shards"]:
        check_receipt(shard["receipt"], old)  # the announcement: an entry under the old key
        assert key_rotation.verify(shard["announcement"], old) == new
        head = SignedTreeHead.from_json(shard["first_tree_head"])
        assert verify_tree_head(head, new)
        logs.add(head.log_id)
    assert len(logs) == 2
    _check_rotated(s, old, new)


def test_a_key_rotation_cut_short_between_shards_is_finished(sharded: Sharded) -> None:
    s = sharded
    old = bytes(read_key(s.key_file).verify_key)
    east = s.deployment.contexts["east"]
    east.store.close()  # the east database is gone mid-rotation
    cut = s.client.post("/v1/log/keys/rotate", headers=s.operator)
    assert cut.status_code == 409, cut.text
    detail = cut.json()["detail"]
    assert "in the logs of home but not yet of east" in detail and "rotate again" in detail
    staged = s.key_file.with_name(s.key_file.name + ".next")
    new = bytes(read_key(staged).verify_key)
    assert bytes(read_key(s.key_file).verify_key) == old  # not replaced until every log has it
    assert [active for _, active in _key_ids(s.home_db)] == [False, True]
    assert _key_ids(s.east_db) == [(key_id(old), True)]

    # The shard is back: rotating again finishes with the key already staged.
    east.store = open_store(s.east_db.url)
    again = s.client.post("/v1/log/keys/rotate", headers=s.operator)
    assert again.status_code == 200, again.text
    assert bytes(read_key(s.key_file).verify_key) == new and not staged.exists()
    assert [shard["announcement"]["new_key_id"] for shard in again.json()["shards"]] == [
        key_id(new),
        key_id(new),
    ]
    _check_rotated(s, old, new)


def test_a_key_rotation_cut_short_between_shards_is_finished_at_start(
    sharded: Sharded, clock: MovableClock
) -> None:
    s = sharded
    old = bytes(read_key(s.key_file).verify_key)
    s.deployment.contexts["east"].store.close()
    cut = s.client.post("/v1/log/keys/rotate", headers=s.operator)
    assert cut.status_code == 409, cut.text
    new = bytes(read_key(s.key_file.with_name(s.key_file.name + ".next")).verify_key)
    s.deployment.close()

    table = routing_table.parse(table_text(s.home_db, s.east_db))
    reopened, created = open_deployment(table, str(s.key_file), clock)
    try:
        assert not created
        assert bytes(reopened.home.keys.current.verify_key) == new
        assert reopened.home.keys is reopened.contexts["east"].keys  # one key for every shard
        assert bytes(read_key(s.key_file).verify_key) == new
        for db in (s.home_db, s.east_db):
            assert _key_ids(db) == [(key_id(old), False), (key_id(new), True)]
        for ctx in reopened.contexts.values():
            assert audit_log(ctx.store).ok
    finally:
        reopened.close()


def test_a_shard_signed_with_another_key_is_refused_at_start(
    databases: Databases, sharded: Sharded, clock: MovableClock, tmp_path: Path
) -> None:
    s = sharded
    s.deployment.close()
    stranger = databases.new("stranger.db")
    alone, _ = open_context(stranger.url, tmp_path / "stranger.signing-key", clock)
    alone.store.close()
    table = routing_table.parse(table_text(s.home_db, stranger))
    with pytest.raises(KeyFileError, match="signed with different keys"):
        open_deployment(table, str(s.key_file), clock)


def test_a_revoked_token_is_refused_for_every_shard(sharded: Sharded) -> None:
    s = sharded
    revoked = s.client.delete(f"/v1/tokens/{s.south.token_id}", headers=s.operator)
    assert revoked.status_code == 200, revoked.text
    for db in (s.home_db, s.east_db):
        ((at,),) = db.rows("SELECT revoked_at FROM tokens WHERE id = ?", (s.south.token_id,))
        assert at is not None
    for mechanism in (s.west, s.east):
        refused = s.client.get(f"/v1/mechanisms/{mechanism}", headers=s.south.headers)
        assert refused.status_code == 401


def test_a_party_s_public_key_reaches_every_shard(sharded: Sharded) -> None:
    s = sharded
    key = base64.b64encode(bytes(32)).decode()
    put = s.client.put("/v1/keys/me", json={"public_key": key}, headers=s.north.headers)
    assert put.status_code == 200, put.text
    for db in (s.home_db, s.east_db):
        assert db.rows("SELECT public_key FROM party_keys WHERE party_id = ?", (s.north.id,)) == [
            (key,)
        ]


def test_a_new_mechanism_goes_where_it_is_sent_and_nowhere_unknown(sharded: Sharded) -> None:
    s = sharded
    refused = s.client.post(
        "/v1/mechanisms", json={"name": "nowhere", "shard": "north-pole"}, headers=s.operator
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "shard"
    made = s.client.post("/v1/mechanisms", json={"name": "by default"}, headers=s.operator)
    assert made.status_code == 201 and held(s.home_db, "mechanisms", made.json()["id"])


def test_the_routing_table_names_where_a_mechanism_held_twice_is_served(sharded: Sharded) -> None:
    """A move cut short leaves both shards holding the mechanism: unnamed in the routing table
    it is refused; named, it is served from the shard named."""
    s = sharded
    s.notify(s.north, s.east, 40.0)
    columns = "id, name, area_json, rules_json, created_at"
    ((row),) = s.east_db.rows(f"SELECT {columns} FROM mechanisms WHERE id = ?", (s.east,))
    s.home_db.rows(f"INSERT INTO mechanisms ({columns}) VALUES (?, ?, ?, ?, ?)", row)
    s.deployment._found.clear()  # as a freshly started process
    ambiguous = s.client.get(f"/v1/mechanisms/{s.east}", headers=s.operator)
    assert ambiguous.status_code == 409 and "routing table" in ambiguous.json()["detail"]

    placed = routing_table.parse(table_text(s.home_db, s.east_db, f'{s.east} = "east"'))
    s.deployment.placed = dict(placed.mechanisms)
    found = s.client.get(f"/v1/mechanisms/{s.east}/notifications", headers=s.north.headers)
    assert found.status_code == 200 and len(found.json()) == 1


# -- the line's events across the shards ---------------------------------------------------------


def pages(s: Sharded, party: Party, after: str = "0", limit: int = 3) -> tuple[list[Any], str]:
    """Every event after the cursor, in small JSON pages; (events, the cursor after them)."""
    found: list[dict[str, Any]] = []
    while True:
        answer = s.client.get(
            "/v1/events",
            params={"after": after, "limit": limit},
            headers={**party.headers, "Accept": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        found += answer.json()["events"]
        after = answer.json()["last_event_id"]
        if len(answer.json()["events"]) < limit:
            return found, after


def audience_events(db: Database, party: Party) -> list[int]:
    rows = db.rows(
        "SELECT event_id FROM event_audience WHERE party_id = ? ORDER BY event_id", (party.id,)
    )
    return [row[0] for row in rows]


def test_event_pages_give_every_shard_s_events_once_each_shard_in_order(sharded: Sharded) -> None:
    s = sharded
    for lon in (30.0, 30.5):
        for mechanism, east in ((s.west, 0), (s.east, 10)):
            s.notify(s.north, mechanism, lon + east)
            s.notify(s.south, mechanism, lon + east + 0.01)  # in conflict with NORTH's
            s.clock.advance(minutes=1)
    found, cursor = pages(s, s.south)
    by_shard = {
        shard: [e["id"] for e in found if e["shard"] == shard] for shard in ("home", "east")
    }
    assert by_shard == {
        "home": audience_events(s.home_db, s.south),
        "east": audience_events(s.east_db, s.south),
    }
    assert by_shard["home"] and by_shard["east"]
    assert cursor == f"home:{by_shard['home'][-1]},east:{by_shard['east'][-1]}"
    stamps = [instant(e["created_at"]) for e in found]
    assert stamps == sorted(stamps)
    # Resuming from the cursor gives only what is new, from whichever shard it is in.
    assert pages(s, s.south, cursor)[0] == []
    made = s.notify(s.south, s.east, 45.0)
    newer, _ = pages(s, s.south, cursor)
    assert {(e["shard"], e["subject_id"]) for e in newer} >= {("east", made["id"])}
    assert all(e["shard"] == "east" for e in newer)


@pytest.mark.parametrize(
    ("after", "why"),
    [
        ("home:1,home:2", "must be a cursor"),
        ("west:1", "not a shard of this deployment"),
        ("home:x", "must be a cursor"),
        ("home:99999999,east:0", "ahead of the newest event"),
        ("home:" + "9" * 20, "must be a cursor"),
    ],
)
def test_a_bad_cursor_is_refused_naming_the_field(sharded: Sharded, after: str, why: str) -> None:
    answer = sharded.client.get(
        "/v1/events",
        params={"after": after},
        headers={**sharded.north.headers, "Accept": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "after" and why in error["reason"], error


async def _read_events(response: Any, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The next `count` events of an open stream: (the SSE id, the event)."""
    got: list[tuple[str, dict[str, Any]]] = []
    block: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line:
            name, _, value = line.partition(":")
            block[name] = value.removeprefix(" ")
            continue
        if "data" in block:
            got.append((block["id"], json.loads(block["data"])))
            if len(got) == count:
                return got
        block = {}
    raise AssertionError(f"the stream ended after {len(got)} of {count} events")


def test_the_stream_carries_both_shards_and_resumes_with_its_cursor(
    sharded_live: Sharded,
) -> None:
    s = sharded_live
    url = str(s.client.base_url)

    async def scenario() -> None:
        headers = {**s.south.headers, "Accept": "text/event-stream"}
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            async with client.stream("GET", "/v1/events", headers=headers) as response:
                assert response.status_code == 200
                await asyncio.to_thread(s.notify, s.south, s.east, 40.0)
                await asyncio.to_thread(s.notify, s.south, s.west, 30.0)
                got = await asyncio.wait_for(_read_events(response, 2), 15)
            assert {event["shard"] for _, event in got} == {"home", "east"}
            last_id = got[-1][0]
            for sse_id, event in got:
                assert f"{event['shard']}:{event['id']}" in sse_id.split(",")
            # While the party is away, both shards go on; it resumes where it left off.
            await asyncio.to_thread(s.notify, s.south, s.west, 31.0)
            await asyncio.to_thread(s.notify, s.south, s.east, 41.0)
            missed, _ = await asyncio.to_thread(pages, s, s.south, last_id)
            assert {e["shard"] for e in missed} == {"home", "east"}
            resumed = {**headers, "Last-Event-ID": last_id}
            async with client.stream("GET", "/v1/events", headers=resumed) as response:
                again = await asyncio.wait_for(_read_events(response, len(missed)), 15)
            assert [event for _, event in again] == missed

    run_async(scenario())


def test_webhooks_carry_every_shard_s_events_under_ids_that_name_the_shard(
    sharded_live: Sharded,
) -> None:
    """Each shard numbers its own events: the webhook-id names the shard, so a receiver that
    drops repeats by it drops none of another shard's events."""
    s = sharded_live
    receiver = Receiver().start()
    try:
        registered = s.client.post(
            "/v1/webhooks", json={"url": receiver.url}, headers=s.south.headers
        )
        assert registered.status_code == 201, registered.text
        receiver.secret = registered.json()["secret"]
        made = [s.notify(s.south, mechanism, 30.0) for mechanism in (s.west, s.east)]
        assert receiver.wait_for_events(2), receiver.events
        got = {(e["shard"], e["subject_id"]) for e in receiver.events}
        assert {("home", made[0]["id"]), ("east", made[1]["id"])} <= got
        for event in receiver.events:
            assert event["id"] == f"evt_{event['shard']}_{event['event_id']}"
        assert len(set(receiver.arrivals)) == len(receiver.events)
        log = s.client.get(
            f"/v1/webhooks/{registered.json()['id']}/deliveries", headers=s.south.headers
        ).json()
        shown = {event["webhook_message_id"] for event in log["events"]}
        assert {e["id"] for e in receiver.events} <= shown
    finally:
        receiver.stop()


# -- moving a mechanism between shards -----------------------------------------------------------


def counts(db: Database, mechanism: str) -> dict[str, int]:
    return {
        table: db.rows(f"SELECT COUNT(*) FROM {table} WHERE mechanism_id = ?", (mechanism,))[0][0]
        for table in ("members", "notifications", "conflicts", "messages", "inbox", "incidents")
    }


def test_a_mechanism_moves_whole_and_carries_on_from_its_new_shard(sharded: Sharded) -> None:
    s = sharded
    first = s.notify(s.north, s.east, 40.0)
    second = s.notify(s.south, s.east, 40.01)
    sent = s.client.post(
        f"/v1/mechanisms/{s.east}/messages",
        json={"to": [s.south.id], "type": "notice", "body": "convoy at noon"},
        headers=s.north.headers,
    ).json()
    reply = s.client.post(
        f"/v1/mechanisms/{s.east}/messages",
        json={"to": [s.north.id], "type": "answer", "body": "seen", "in_reply_to": sent["id"]},
        headers=s.south.headers,
    )
    assert reply.status_code == 201, reply.text
    s.client.post(f"/v1/messages/{sent['id']}/acknowledge", headers=s.south.headers)
    before = counts(s.east_db, s.east)
    seen_before, _ = pages(s, s.south)
    conflicts_before = s.client.get(
        f"/v1/conflicts/{second['conflicts'][0]['id']}", headers=s.north.headers
    ).json()

    moved = move_east(s, "east", "home")
    assert counts(s.home_db, s.east) == before and before["notifications"] == 2
    assert counts(s.east_db, s.east) == dict.fromkeys(before, 0)
    assert moved.volumes == 2 and moved.rows["messages"] == 3  # the system message too
    assert (
        moved.target_receipt["entry"]["data"]["from_log"]
        == moved.source_receipt["tree_head"]["log_id"]
    )
    assert (
        moved.source_receipt["entry"]["data"]["to_log"]
        == moved.target_receipt["tree_head"]["log_id"]
    )

    # The same views from the new shard; old events stay where they were, none repeated.
    again = s.client.get(f"/v1/conflicts/{second['conflicts'][0]['id']}", headers=s.north.headers)
    assert again.status_code == 200 and again.json() == conflicts_before
    thread = s.client.get(f"/v1/messages/{reply.json()['id']}", headers=s.north.headers).json()
    assert thread["in_reply_to"] == sent["id"]
    seen_after, _ = pages(s, s.south)
    assert [(e["shard"], e["id"]) for e in seen_after] == [
        (e["shard"], e["id"]) for e in seen_before
    ]
    # The index moved too: a new notification conflicts with one notified before the move.
    third = s.notify(s.south, s.east, 40.005)
    assert {c["other_notification"] for c in third["conflicts"]} == {first["id"]}
    assert held(s.home_db, "notifications", third["id"])
    newest, _ = pages(s, s.south)
    fresh = {(e["shard"], e["id"]) for e in newest} - {(e["shard"], e["id"]) for e in seen_after}
    assert fresh and {shard for shard, _ in fresh} == {"home"}
    for ctx in s.deployment.contexts.values():
        assert audit_log(ctx.store).ok

    # And back again.
    move_east(s, "home", "east")
    assert counts(s.east_db, s.east)["notifications"] == 3
    assert counts(s.home_db, s.east)["notifications"] == 0
    listed = s.client.get(f"/v1/mechanisms/{s.east}/notifications", headers=s.south.headers)
    assert {n["id"] for n in listed.json()} == {first["id"], second["id"], third["id"]}


def test_a_move_is_refused_for_an_unknown_mechanism_or_its_own_shard(sharded: Sharded) -> None:
    s = sharded
    east = s.deployment.contexts["east"]
    with pytest.raises(NotFound):
        mechanism_move.move(
            "mec_0000000000000000",
            source=east,
            source_name="east",
            target=s.deployment.home,
            target_name="home",
        )
    with pytest.raises(InvalidInput):
        mechanism_move.move(
            s.east, source=east, source_name="east", target=east, target_name="east"
        )
    # An unknown mechanism is not found, whichever shard it is asked to go to.
    with pytest.raises(NotFound):
        mechanism_move.move(
            "mec_0000000000000000", source=east, source_name="east", target=east, target_name="east"
        )


def test_an_idempotency_key_retried_after_its_mechanism_moved_is_recognised(
    sharded: Sharded,
) -> None:
    s = sharded
    s.notify(s.south, s.east, 40.01)
    body = simple(s.clock, circle(40.0, 36.0, 3_000))
    headers = {**s.north.headers, "Idempotency-Key": "sortie-7/attempt"}
    path = f"/v1/mechanisms/{s.east}/notifications"
    first = s.client.post(path, json=body, headers=headers)
    assert first.status_code == 201, first.text
    conflict = first.json()["conflicts"][0]["id"]
    ack = {**s.north.headers, "Idempotency-Key": "ack-sortie-7"}
    acked = s.client.post(f"/v1/conflicts/{conflict}/acknowledge", headers=ack)
    assert acked.status_code == 200, acked.text

    move_east(s, "east", "home")
    keys = "SELECT key FROM idempotency WHERE mechanism_id = ? ORDER BY key"
    assert s.home_db.rows(keys, (s.east,)) == [("ack-sortie-7",), ("sortie-7/attempt",)]
    assert s.east_db.rows(keys, (s.east,)) == []

    # The client never saw the answers and retries both: replayed from the new shard, not redone.
    again = s.client.post(path, json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    acked_again = s.client.post(f"/v1/conflicts/{conflict}/acknowledge", headers=ack)
    assert acked_again.json() == acked.json()
    assert counts(s.home_db, s.east)["notifications"] == 2  # south's, and north's once
    reused = s.client.post(path, json={**body, "title": "another"}, headers=headers)
    assert reused.status_code == 422 and "different request" in reused.text


def test_a_key_the_new_shard_already_holds_keeps_its_record_and_the_retry_is_refused(
    sharded: Sharded,
) -> None:
    """One token's key used in a mechanism on each shard: the move does not fail on the two
    records, the new shard keeps its own, and the moved request's retry is refused, not redone."""
    s = sharded
    headers = {**s.north.headers, "Idempotency-Key": "retry-1"}
    for mechanism, lon in ((s.west, 30.0), (s.east, 40.0)):
        body = simple(s.clock, circle(lon, 36.0, 3_000))
        made = s.client.post(
            f"/v1/mechanisms/{mechanism}/notifications", json=body, headers=headers
        )
        assert made.status_code == 201, made.text
    move_east(s, "east", "home")
    kept = s.home_db.rows("SELECT mechanism_id FROM idempotency WHERE key = 'retry-1'")
    assert kept == [(s.west,)]
    again = s.client.post(f"/v1/mechanisms/{s.east}/notifications", json=body, headers=headers)
    assert again.status_code == 422 and "different request" in again.text
    assert counts(s.home_db, s.east)["notifications"] == 1


def test_a_move_cut_short_is_finished_by_moving_again(sharded: Sharded) -> None:
    """The target committed its copy, the old shard did not delete: both hold the mechanism.
    Named in the routing table, the old shard serves it, and the same move finishes."""
    s = sharded
    s.notify(s.north, s.east, 40.0)
    s.notify(s.south, s.east, 40.01)
    before = counts(s.east_db, s.east)
    east = s.deployment.contexts["east"]
    with east.store.read() as tx:
        rows = {table: tx.mechanism_rows(table, s.east) for table in OF_MECHANISM}
    with s.deployment.home.store.write() as tx:
        for table in OF_MECHANISM:
            tx.insert_mechanism_rows(table, rows[table])
    s.notify(s.north, s.east, 40.02)  # written on the old shard after the first copy
    s.deployment.placed = {s.east: "east"}
    move_east(s, "east", "home")
    assert counts(s.home_db, s.east)["notifications"] == before["notifications"] + 1
    assert counts(s.east_db, s.east) == dict.fromkeys(before, 0)
    # The routing table still names the old shard, which no longer holds it: served from home.
    listed = s.client.get(f"/v1/mechanisms/{s.east}/notifications", headers=s.north.headers)
    assert listed.status_code == 200 and len(listed.json()) == before["notifications"] + 1
    for ctx in s.deployment.contexts.values():
        assert audit_log(ctx.store).ok


def test_a_shard_that_cannot_be_reached_stops_no_request_to_another(
    sharded: Sharded, caplog: pytest.LogCaptureFixture
) -> None:
    """Every request records its party's contact on every shard; one shard down does not fail
    requests to the others (the failed write is logged)."""
    s = sharded
    s.deployment.contexts["east"].store.close()
    for ctx in s.deployment.contexts.values():
        ctx.heard.clear()  # the party's contact is due again
    answer = s.client.get(f"/v1/mechanisms/{s.west}/notifications", headers=s.north.headers)
    assert answer.status_code == 200, answer.text
    assert "recording the caller's contact on shard east failed" in caplog.text
