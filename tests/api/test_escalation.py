"""Deadlines over a moved clock: reminders, escalation, restarts, and the silence alarm.

The app's own scheduler also runs in the background against the same movable clock; each test
drives it deterministically by calling `scheduler.step(ctx)` after moving the clock (a step gives
the same result whoever runs it, and a repeated step must add nothing).
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from backends import Database

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.services import line_status, scheduler
from deconfliction.services.context import Context

from .conftest import (
    T0,
    CheckedClient,
    MovableClock,
    Party,
    World,
    build_world,
    circle,
    iso,
    open_test_context,
    simple,
)

LINE_EVENTS = ("line.reminder", "line.overdue", "line.escalation")


# ---------------------------------------------------------------- helpers


def send(world: World, sender: Party, to: list[Party], **fields: Any) -> dict[str, Any]:
    response = world.client.post(
        f"/v1/mechanisms/{fields.pop('mechanism_id', world.mechanism_id)}/messages",
        json={"to": [p.id for p in to], "type": "notice", "body": "please acknowledge", **fields},
        headers=sender.headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def events(ctx: Context, party: Party | None = None, token_id: str = "") -> list[dict[str, Any]]:
    """Stored events a party's token may see (every event when `party` is None)."""
    with ctx.store.read() as tx:
        if party is None:
            return tx.events_after(None, "", 0, 100_000)
        return tx.events_after(party.id, token_id or party.token_id, 0, 100_000)


def line_events(ctx: Context, subject_id: str) -> list[tuple[str, list[str], str | None, Any]]:
    """(type, audience, token_id, stage) of every reminder/overdue/escalation of a subject."""
    return [
        (
            e["type"],
            json.loads(e["audience_json"]),
            e["token_id"],
            json.loads(e["payload_json"]).get("stage"),
        )
        for e in events(ctx)
        if e["subject_id"] == subject_id and e["type"] in LINE_EVENTS
    ]


def inbox_item(world: World, party: Party, subject_id: str) -> dict[str, Any]:
    response = world.client.get("/v1/inbox", params={"state": "all"}, headers=party.headers)
    assert response.status_code == 200
    [found] = [i for i in response.json() if i["subject_id"] == subject_id]
    result: dict[str, Any] = found
    return result


def senders_view(world: World, sender: Party, message_id: str) -> dict[str, dict[str, Any]]:
    response = world.client.get(f"/v1/messages/{message_id}", headers=sender.headers)
    assert response.status_code == 200
    return {r["party_id"]: r for r in response.json()["recipients"]}


def set_contact(world: World, party: Party, mechanism_id: str | None = None, **body: Any) -> Any:
    return world.client.put(
        f"/v1/mechanisms/{mechanism_id or world.mechanism_id}/escalation",
        json=body,
        headers=party.headers,
    )


def duty_officer(world: World, party: Party) -> Party:
    """A second token of the party, e.g. its duty officer's."""
    token, token_id = world.new_token(party.id)
    return Party(party.code, party.id, token, token_id)


def step_until_idle(ctx: Context) -> None:
    while scheduler.step(ctx):
        pass


# ---------------------------------------------------------------- escalation contacts


def test_an_escalation_contact_is_a_live_token_of_ones_own_party(world: World) -> None:
    url = f"/v1/mechanisms/{world.mechanism_id}/escalation"
    assert world.client.get(url, headers=world.south.headers).status_code == 404
    duty = duty_officer(world, world.south)

    accepted = set_contact(world, world.south, token_id=duty.token_id)
    assert accepted.status_code == 200, accepted.text
    contact = accepted.json()
    assert contact["party_id"] == world.south.id and contact["token_id"] == duty.token_id
    assert contact["webhook_id"] is None and contact["mechanism_id"] == world.mechanism_id
    assert contact["receipt"]["entry"]["kind"] == "escalation_contact.set"
    assert {**world.client.get(url, headers=world.south.headers).json(), "receipt": None} == {
        **contact,
        "receipt": None,
    }
    # Per party: NORTH has none.
    assert world.client.get(url, headers=world.north.headers).status_code == 404

    revoked = duty_officer(world, world.south)
    world.client.delete(f"/v1/tokens/{revoked.token_id}", headers=world.operator)
    for token_id in (world.north.token_id, "tok_0000000000000000", revoked.token_id):
        refused = set_contact(world, world.south, token_id=token_id)
        assert refused.status_code == 422, token_id
        assert [e["field"] for e in refused.json()["errors"]] == ["token_id"]
    nothing = set_contact(world, world.south)
    assert nothing.status_code == 422
    unknown_hook = set_contact(world, world.south, webhook_id="whk_0000000000000000")
    assert unknown_hook.status_code == 422
    assert [e["field"] for e in unknown_hook.json()["errors"]] == ["webhook_id"]
    # Refusals changed nothing.
    assert contact["receipt"]["entry"]["kind"] == "escalation_contact.set"
    assert {**world.client.get(url, headers=world.south.headers).json(), "receipt": None} == {
        **contact,
        "receipt": None,
    }

    assert set_contact(world, world.outsider, token_id=world.outsider.token_id).status_code == 404
    assert (
        world.client.put(url, json={"token_id": duty.token_id}, headers=world.operator).status_code
        == 403
    )


# ---------------------------------------------------------------- the ladder


def test_the_escalation_ladder(world: World, ctx: Context) -> None:
    north, south, aid = world.north, world.south, world.aid
    duty = duty_officer(world, south)
    assert set_contact(world, south, token_id=duty.token_id).status_code == 200
    sent = send(world, north, [south])
    mid = sent["id"]

    # Nothing before the deadline (T0 + 30 min).
    world.clock.advance(minutes=29, seconds=59)
    scheduler.step(ctx)
    assert line_events(ctx, mid) == []
    assert inbox_item(world, south, mid)["state"] == "pending"
    assert inbox_item(world, south, mid)["reminded_at"] is None

    # At the deadline: one reminder to the recipient, "overdue" to the sender.
    world.clock.advance(seconds=2)
    reminded_at = iso(world.clock.now)
    scheduler.step(ctx)
    assert line_events(ctx, mid) == [
        ("line.reminder", [south.id], None, None),
        ("line.overdue", [north.id], None, "reminded"),
    ]
    assert "line.reminder" in {e["type"] for e in events(ctx, south) if e["subject_id"] == mid}
    assert "line.reminder" in {e["type"] for e in events(ctx, duty) if e["subject_id"] == mid}
    assert {e["type"] for e in events(ctx, north) if e["subject_id"] == mid} == {
        "message.sent",
        "line.overdue",
    }
    assert [e for e in events(ctx, aid) if e["subject_id"] == mid] == []
    [overdue] = [e for e in events(ctx, north) if e["type"] == "line.overdue"]
    payload = json.loads(overdue["payload_json"])
    assert payload["party_id"] == south.id and payload["subject_type"] == "message"
    assert payload["deadline"] == iso(T0 + timedelta(minutes=30))

    item = inbox_item(world, south, mid)
    assert item["state"] == "overdue" and item["reminded_at"] == reminded_at
    assert item["escalated_at"] is None
    assert item["attempts"] == [
        {"at": reminded_at, "action": "reminder", "to": {"party_id": south.id}}
    ]
    seen_by_sender = senders_view(world, north, mid)[south.id]
    assert seen_by_sender["state"] == "overdue"
    assert seen_by_sender["attempts"] == item["attempts"]

    # A repeated step, or one before escalation_after_min (15) has passed, adds nothing.
    scheduler.step(ctx)
    world.clock.advance(minutes=14)
    scheduler.step(ctx)
    assert len(line_events(ctx, mid)) == 2

    # 15 minutes after the deadline: escalation to SOUTH's duty officer's token only.
    world.clock.advance(minutes=1)
    escalated_at = iso(world.clock.now)
    scheduler.step(ctx)
    assert line_events(ctx, mid)[2:] == [
        ("line.escalation", [south.id], duty.token_id, None),
        ("line.overdue", [north.id], None, "escalated"),
    ]
    [escalation] = [e for e in events(ctx, south, duty.token_id) if e["type"] == "line.escalation"]
    assert escalation["token_id"] == duty.token_id and escalation["subject_id"] == mid
    assert json.loads(escalation["payload_json"])["to"] == {
        "party_id": south.id,
        "token_id": duty.token_id,
        "webhook_id": None,
    }
    assert "line.escalation" not in {e["type"] for e in events(ctx, south)}
    assert "line.escalation" not in {e["type"] for e in events(ctx, north)}
    assert "line.escalation" not in {e["type"] for e in events(ctx, aid)}

    item = inbox_item(world, south, mid)
    assert item["state"] == "overdue" and item["escalated_at"] == escalated_at
    assert [a["action"] for a in item["attempts"]] == ["reminder", "escalation"]
    assert item["attempts"][1]["to"]["token_id"] == duty.token_id

    # Nothing more, however often the scheduler runs.
    for _ in range(3):
        scheduler.step(ctx)
    world.clock.advance(minutes=9)
    scheduler.step(ctx)
    assert len(line_events(ctx, mid)) == 4

    # The duty officer acknowledges: it stops there, and the sender keeps the trail.
    ack = world.client.post(f"/v1/messages/{mid}/acknowledge", headers=duty.headers)
    assert ack.status_code == 200 and ack.json()["meaning"] == "received and read"
    assert ack.json()["token_id"] == duty.token_id
    final = senders_view(world, north, mid)[south.id]
    assert final["state"] == "acknowledged"
    assert final["acknowledged_by_token"] == duty.token_id
    assert final["acknowledged_at"] == iso(world.clock.now)
    assert [a["action"] for a in final["attempts"]] == ["reminder", "escalation"]
    world.clock.advance(minutes=4)
    scheduler.step(ctx)
    assert len(line_events(ctx, mid)) == 4


def test_without_a_contact_the_escalation_goes_to_the_whole_party(
    world: World, ctx: Context
) -> None:
    other_token = duty_officer(world, world.south)
    sent = send(world, world.north, [world.south], priority="urgent")  # due in 10 minutes
    world.clock.advance(minutes=10)
    scheduler.step(ctx)
    world.clock.advance(minutes=15)
    scheduler.step(ctx)
    kinds = [(kind, token) for kind, _, token, _ in line_events(ctx, sent["id"])]
    assert kinds == [
        ("line.reminder", None),
        ("line.overdue", None),
        ("line.escalation", None),
        ("line.overdue", None),
    ]
    for token in (world.south.token_id, other_token.token_id):
        assert "line.escalation" in {e["type"] for e in events(ctx, world.south, token)}
    item = inbox_item(world, world.south, sent["id"])
    assert item["attempts"][1]["to"] == {
        "party_id": world.south.id,
        "token_id": None,
        "webhook_id": None,
    }


def test_an_acknowledgement_in_time_stops_the_ladder(world: World, ctx: Context) -> None:
    sent = send(world, world.north, [world.south, world.aid])
    world.clock.advance(minutes=29)
    assert (
        world.client.post(
            f"/v1/messages/{sent['id']}/acknowledge", headers=world.south.headers
        ).status_code
        == 200
    )
    world.clock.advance(minutes=2)
    scheduler.step(ctx)
    world.clock.advance(minutes=15)
    scheduler.step(ctx)
    # Only AID, which did not acknowledge, was reminded and escalated.
    audiences = [(kind, audience) for kind, audience, _, _ in line_events(ctx, sent["id"])]
    assert audiences == [
        ("line.reminder", [world.aid.id]),
        ("line.overdue", [world.north.id]),
        ("line.escalation", [world.aid.id]),
        ("line.overdue", [world.north.id]),
    ]
    view = senders_view(world, world.north, sent["id"])
    assert view[world.south.id]["state"] == "acknowledged"
    assert view[world.south.id]["attempts"] == []
    assert view[world.aid.id]["state"] == "overdue"


def test_a_missed_conflict_is_chased_on_both_sides(world: World, ctx: Context) -> None:
    north = world.notify(world.north, simple(world.clock, circle(37.0, 36.5, 3_000)))
    south = world.notify(world.south, simple(world.clock, circle(37.03, 36.5, 3_000)))
    [conflict] = south["conflicts"]
    cid = conflict["id"]
    world.client.post(f"/v1/conflicts/{cid}/acknowledge", headers=world.north.headers)

    world.clock.advance(minutes=10, seconds=1)  # past the urgent deadline
    scheduler.step(ctx)
    # SOUTH did not acknowledge: it is reminded, and NORTH (the other party) learns it.
    assert line_events(ctx, cid) == [
        ("line.reminder", [world.south.id], None, None),
        ("line.overdue", [world.north.id], None, "reminded"),
    ]
    # The system message announcing the conflict has no sender to tell: reminders only.
    system = [
        e for e in events(ctx) if e["type"] in LINE_EVENTS and e["subject_id"].startswith("msg_")
    ]
    assert sorted((e["type"], tuple(json.loads(e["audience_json"]))) for e in system) == sorted(
        [("line.reminder", (world.north.id,)), ("line.reminder", (world.south.id,))]
    )

    # A changed overlap is a new version with a new deadline: the ladder starts again.
    world.clock.advance(minutes=2)
    revised = world.client.put(
        f"/v1/notifications/{north['id']}",
        json=simple(world.clock, circle(37.01, 36.5, 3_000), hours=(1, 5)),
        headers={**world.north.headers, "If-Match": '"1"'},
    )
    assert revised.status_code == 200
    item = inbox_item(world, world.south, cid)
    assert item["version"] == 2 and item["reminded_at"] is None
    assert item["deadline"] == iso(world.clock.now + timedelta(minutes=10))
    world.clock.advance(minutes=9)
    scheduler.step(ctx)
    assert len(line_events(ctx, cid)) == 2  # v2 is not due yet; v1's escalation was dropped
    world.clock.advance(minutes=1, seconds=1)
    scheduler.step(ctx)
    # NORTH's acknowledgement was of revision 1: both are reminded of revision 2.
    assert sorted(line_events(ctx, cid)[2:]) == sorted(
        [
            ("line.reminder", [world.north.id], None, None),
            ("line.overdue", [world.south.id], None, "reminded"),
            ("line.reminder", [world.south.id], None, None),
            ("line.overdue", [world.north.id], None, "reminded"),
        ]
    )
    assert inbox_item(world, world.south, cid)["state"] == "overdue"


def test_a_closed_item_is_not_chased(world: World, ctx: Context) -> None:
    north = world.notify(world.north, simple(world.clock, circle(37.0, 36.5, 3_000)))
    south = world.notify(world.south, simple(world.clock, circle(37.03, 36.5, 3_000)))
    [conflict] = south["conflicts"]
    world.clock.advance(minutes=5)
    cancelled = world.client.post(
        f"/v1/notifications/{north['id']}/cancel", headers=world.north.headers
    )
    assert cancelled.status_code == 200
    world.clock.advance(minutes=30)
    scheduler.step(ctx)
    world.clock.advance(minutes=20)
    scheduler.step(ctx)
    assert line_events(ctx, conflict["id"]) == []
    assert inbox_item(world, world.south, conflict["id"])["state"] == "closed"


def test_an_escalation_to_a_revoked_token_still_reaches_the_party(
    world: World, ctx: Context
) -> None:
    duty = duty_officer(world, world.south)
    assert set_contact(world, world.south, token_id=duty.token_id).status_code == 200
    world.client.delete(f"/v1/tokens/{duty.token_id}", headers=world.operator)
    sent = send(world, world.north, [world.south], priority="urgent")
    world.clock.advance(minutes=10)
    scheduler.step(ctx)
    world.clock.advance(minutes=15)
    scheduler.step(ctx)
    assert [k for k, *_ in line_events(ctx, sent["id"])].count("line.escalation") == 1
    assert "line.escalation" in {e["type"] for e in events(ctx, world.south)}


# ---------------------------------------------------------------- restarts


def _restarted(database: Database, clock: MovableClock) -> Context:
    return open_test_context(database, clock)


def test_a_restart_in_the_middle_of_a_pending_deadline_forgets_nothing(
    app: Any, ctx: Context, database: Database, clock: MovableClock, operator_token: str
) -> None:
    with CheckedClient(app) as client:
        world = build_world(client, clock, database, operator_token)
        sent = send(world, world.north, [world.south])
        clock.advance(minutes=20)
        scheduler.step(ctx)
        assert line_events(ctx, sent["id"]) == []
    # The server is down; a new process opens the same file after the deadline passed.
    later = MovableClock(T0 + timedelta(minutes=31))
    fresh = _restarted(database, later)
    assert scheduler.step(fresh) is False
    assert line_events(fresh, sent["id"]) == [
        ("line.reminder", [world.south.id], None, None),
        ("line.overdue", [world.north.id], None, "reminded"),
    ]
    # Served again from the new context: the sender sees the item overdue, with its trail.
    with CheckedClient(create_app(fresh, Settings(db=database.url))) as client:
        again = dataclasses.replace(world, client=client, clock=later)
        row = senders_view(again, world.north, sent["id"])[world.south.id]
        assert row["state"] == "overdue"
        assert row["attempts"] == [
            {"at": iso(later.now), "action": "reminder", "to": {"party_id": world.south.id}}
        ]
        scheduler.step(fresh)
        assert len(line_events(fresh, sent["id"])) == 2
        # Acknowledging on the restarted server stops the ladder.
        ack = client.post(f"/v1/messages/{sent['id']}/acknowledge", headers=world.south.headers)
        assert ack.status_code == 200
        later.advance(minutes=20)
        scheduler.step(fresh)
        assert len(line_events(fresh, sent["id"])) == 2
    fresh.store.close()


def test_after_a_long_outage_the_ladder_catches_up(
    app: Any, ctx: Context, database: Database, clock: MovableClock, operator_token: str
) -> None:
    with CheckedClient(app) as client:
        world = build_world(client, clock, database, operator_token)
        sent = send(world, world.north, [world.south])
    later = MovableClock(T0 + timedelta(hours=3))
    fresh = _restarted(database, later)
    step_until_idle(fresh)
    assert [k for k, *_ in line_events(fresh, sent["id"])] == ["line.reminder", "line.overdue"]
    # The escalation was due long ago: it follows at the very next step.
    step_until_idle(fresh)
    assert line_events(fresh, sent["id"])[2:] == [
        ("line.escalation", [world.south.id], None, None),
        ("line.overdue", [world.north.id], None, "escalated"),
    ]
    step_until_idle(fresh)
    assert len(line_events(fresh, sent["id"])) == 4
    fresh.store.close()


def test_the_servers_own_scheduler_processes_deadlines(
    ctx: Context, database: Database, clock: MovableClock, operator_token: str
) -> None:
    """Without anyone calling `step`: the server's background worker notices the deadline."""
    app = create_app(ctx, Settings(db=database.url, scheduler_interval_s=0.05))
    with CheckedClient(app) as client:
        world = build_world(client, clock, database, operator_token)
        sent = send(world, world.north, [world.south], priority="urgent")
        clock.advance(minutes=11)
        give_up = time.monotonic() + 10
        while len(line_events(ctx, sent["id"])) < 2 and time.monotonic() < give_up:
            time.sleep(0.02)
        assert [k for k, *_ in line_events(ctx, sent["id"])] == ["line.reminder", "line.overdue"]


# ---------------------------------------------------------------- silence


@pytest.fixture
def every_call_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record every call's contact (the service writes at most every 30 s of real time)."""
    monkeypatch.setattr(line_status, "TOUCH_EVERY_S", 0.0)


def silence_messages(world: World, party: Party, mechanism_id: str, text: str) -> list[Any]:
    response = world.client.get(
        "/v1/messages",
        params={"folder": "inbox", "mechanism_id": mechanism_id, "limit": "1000"},
        headers=party.headers,
    )
    assert response.status_code == 200
    return [m for m in response.json() if m["system"] and text in m["body"]]


def status_of(world: World, mechanism_id: str) -> dict[str, dict[str, Any]]:
    response = world.client.get(f"/v1/mechanisms/{mechanism_id}/status", headers=world.operator)
    assert response.status_code == 200
    return {m["party"]["id"]: m for m in response.json()["members"]}


@pytest.mark.usefixtures("every_call_counts")
def test_a_silent_member_is_reported_once_and_so_is_its_return(world: World, ctx: Context) -> None:
    quiet = world.new_mechanism({"silence_alarm_min": 5})
    gone, back = "has not contacted the line", "is back on the line"

    # NORTH and SOUTH keep calling; AID, a member since T0, says nothing.
    world.clock.advance(minutes=4)
    for party in (world.north, world.south):
        assert world.client.get("/v1/me", headers=party.headers).status_code == 200
    scheduler.step(ctx)
    assert silence_messages(world, world.north, quiet, gone) == []

    world.clock.advance(minutes=1, seconds=1)  # AID: silent for just over 5 minutes
    alarm_at = iso(world.clock.now)
    scheduler.step(ctx)
    for party in (world.north, world.south):
        [alarm] = silence_messages(world, party, quiet, gone)
        assert alarm["system"] is True and alarm["from"] is None
        assert alarm["priority"] == "urgent"
        assert "AID" in alarm["body"] and "NORTH" not in alarm["body"]
        assert sorted(alarm["to"]) == sorted([world.north.id, world.south.id])
        assert alarm["created_at"] == alarm_at
    # Only on the mechanism whose alarm is that short.
    assert silence_messages(world, world.north, world.mechanism_id, gone) == []

    status = status_of(world, quiet)
    assert status[world.aid.id]["silent"] is True
    assert status[world.aid.id]["silent_since_alarm"] == alarm_at
    assert status[world.aid.id]["last_contact_at"] is None
    assert status[world.north.id]["silent"] is False
    assert status[world.north.id]["last_contact_at"] == alarm_at  # it just listed its messages

    # Exactly once, however often the scheduler looks.
    world.clock.advance(seconds=30)
    for _ in range(3):
        scheduler.step(ctx)
    assert len(silence_messages(world, world.north, quiet, gone)) == 1

    # AID calls again: the others are told it is back, once, and the alarm clears.
    world.clock.advance(seconds=30)
    assert world.client.get("/v1/inbox", headers=world.aid.headers).status_code == 200
    returned_at = iso(world.clock.now)
    scheduler.step(ctx)
    scheduler.step(ctx)
    for party in (world.north, world.south):
        [returned] = silence_messages(world, party, quiet, back)
        assert "AID" in returned["body"] and returned_at in returned["body"]
        assert returned["priority"] == "routine"
    assert silence_messages(world, world.aid, quiet, back) == []
    assert silence_messages(world, world.aid, quiet, gone) == []
    status = status_of(world, quiet)
    assert status[world.aid.id]["silent"] is False
    assert status[world.aid.id]["silent_since_alarm"] is None
    assert status[world.aid.id]["last_contact_at"] == returned_at
    assert len(silence_messages(world, world.north, quiet, gone)) == 1


@pytest.mark.usefixtures("every_call_counts")
def test_a_party_silent_again_raises_a_new_alarm(world: World, ctx: Context) -> None:
    quiet = world.new_mechanism({"silence_alarm_min": 5}, members=("NORTH", "SOUTH"))
    gone = "has not contacted the line"
    world.clock.advance(minutes=6)
    world.client.get("/v1/me", headers=world.north.headers)
    scheduler.step(ctx)
    assert len(silence_messages(world, world.north, quiet, gone)) == 1
    # SOUTH calls in the very second the alarm was raised: that is a return too.
    world.client.get("/v1/me", headers=world.south.headers)
    scheduler.step(ctx)
    assert len(silence_messages(world, world.north, quiet, "is back on the line")) == 1
    assert status_of(world, quiet)[world.south.id]["silent"] is False
    # Both talk for a while, then SOUTH falls silent again.
    world.clock.advance(minutes=3)
    world.client.get("/v1/me", headers=world.north.headers)
    world.clock.advance(minutes=3)
    world.client.get("/v1/me", headers=world.north.headers)
    scheduler.step(ctx)
    assert len(silence_messages(world, world.north, quiet, gone)) == 2
    assert status_of(world, quiet)[world.south.id]["silent"] is True
