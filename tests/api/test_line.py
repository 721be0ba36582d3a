"""The line over HTTP: messages, the inbox, acknowledgements, system messages, signing, status.

Every test runs the real app over a real SQLite file with a movable clock. "Acknowledged" means
received and read; the checking client refuses any response that says "approved" or "safe".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import rfc8785
from nacl.signing import SigningKey

from deconfliction.services.context import Context
from deconfliction.services.signing import verify_offline

from .conftest import T0, Party, World, at, circle, iso, notification, simple, square, volume

MEANING = "received and read"


# ---------------------------------------------------------------- helpers


def messages_url(world: World, mechanism_id: str | None = None) -> str:
    return f"/v1/mechanisms/{mechanism_id or world.mechanism_id}/messages"


def post_message(
    world: World,
    sender: Party,
    to: list[Party] | list[str],
    *,
    mechanism_id: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Any:
    """POST a message; `to` as parties or raw ids; returns the response, whatever it is."""
    body: dict[str, Any] = {
        "to": [p.id if isinstance(p, Party) else p for p in to],
        "type": "text",
        "body": "hello",
        **fields,
    }
    return world.client.post(
        messages_url(world, mechanism_id), json=body, headers={**sender.headers, **(headers or {})}
    )


def send(world: World, sender: Party, to: list[Party], **fields: Any) -> dict[str, Any]:
    response = post_message(world, sender, to, **fields)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def get_message(world: World, party: Party | dict[str, str], message_id: str) -> Any:
    headers = party.headers if isinstance(party, Party) else party
    return world.client.get(f"/v1/messages/{message_id}", headers=headers)


def ack_message(world: World, party: Party, message_id: str, **headers: str) -> Any:
    return world.client.post(
        f"/v1/messages/{message_id}/acknowledge", headers={**party.headers, **headers}
    )


def inbox(world: World, party: Party, state: str = "all", **params: str) -> list[dict[str, Any]]:
    response = world.client.get(
        "/v1/inbox", params={"state": state, **params}, headers=party.headers
    )
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def item(world: World, party: Party, subject_id: str) -> dict[str, Any]:
    [found] = [i for i in inbox(world, party) if i["subject_id"] == subject_id]
    return found


def listed(world: World, party: Party, **params: str) -> list[dict[str, Any]]:
    response = world.client.get("/v1/messages", params=params, headers=party.headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def system_messages(world: World, party: Party, containing: str = "") -> list[dict[str, Any]]:
    """The service's own messages to the party whose body contains `containing`."""
    return [
        m
        for m in listed(world, party, folder="inbox", limit="1000")
        if m["system"] and containing in m["body"]
    ]


def statuses(world: World, view: dict[str, Any]) -> dict[str, str]:
    return {r["party_id"]: r["state"] for r in view["recipients"]}


def events(ctx: Context, party: Party | None = None, token_id: str = "") -> list[dict[str, Any]]:
    """Stored events a party's token may see (every event when `party` is None)."""
    with ctx.store.read() as tx:
        if party is None:
            return tx.events_after(None, "", 0, 100_000)
        return tx.events_after(party.id, token_id or party.token_id, 0, 100_000)


def conflicting_pair(world: World, mechanism_id: str | None = None) -> tuple[str, str, str]:
    """NORTH's and SOUTH's overlapping notifications and their conflict's id."""
    north = world.notify(world.north, simple(world.clock, circle(37.0, 36.5, 3_000)), mechanism_id)
    south = world.notify(world.south, simple(world.clock, circle(37.03, 36.5, 3_000)), mechanism_id)
    [conflict] = south["conflicts"]
    return north["id"], south["id"], conflict["id"]


def revise(world: World, party: Party, notification_id: str, body: dict[str, Any]) -> Any:
    current = world.client.get(f"/v1/notifications/{notification_id}", headers=party.headers)
    response = world.client.put(
        f"/v1/notifications/{notification_id}",
        json=body,
        headers={**party.headers, "If-Match": current.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    return response.json()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def signed_content(world: World, to: list[Party], body: str, **fields: Any) -> dict[str, Any]:
    """What a sender signs: the fields of the message, `to` and reference ids sorted."""
    references = fields.get("references") or {}
    return {
        "mechanism_id": fields.get("mechanism_id", world.mechanism_id),
        "to": sorted(p.id for p in to),
        "type": fields.get("type", "text"),
        "priority": fields.get("priority", "routine"),
        "body": body,
        "references": {
            "notifications": sorted(references.get("notifications", [])),
            "conflicts": sorted(references.get("conflicts", [])),
        },
        "attachment": fields.get("attachment"),
        "in_reply_to": fields.get("in_reply_to"),
    }


def sign(key: SigningKey, content: dict[str, Any]) -> str:
    return b64(key.sign(rfc8785.dumps(content)).signature)


def register(world: World, party: Party, key: SigningKey) -> dict[str, Any]:
    response = world.client.put(
        "/v1/keys/me", json={"public_key": b64(bytes(key.verify_key))}, headers=party.headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# ---------------------------------------------------------------- send, deliver, acknowledge


def test_send_deliver_acknowledge_and_what_the_sender_sees(world: World, ctx: Context) -> None:
    north, south, aid = world.north, world.south, world.aid
    sent = send(world, north, [south, aid], type="query", body="Are you flying at 0900?")
    assert sent["from"] == north.id and sent["system"] is False
    assert sent["to"] == sorted([south.id, aid.id])
    assert sent["thread_id"] == sent["id"] and sent["in_reply_to"] is None
    assert statuses(world, sent) == {south.id: "pending", aid.id: "pending"}
    assert {r["deadline"] for r in sent["recipients"]} == {iso(T0 + timedelta(minutes=30))}

    # In the recipient's inbox, pending and not yet delivered.
    [pending] = [i for i in inbox(world, south, "pending") if i["subject_id"] == sent["id"]]
    assert pending["subject_type"] == "message" and pending["state"] == "pending"
    assert pending["delivered_at"] is None and pending["acknowledged_at"] is None
    assert pending["version"] == 1 and pending["party_id"] == south.id

    # Fetching it is its delivery; the recipient sees its own status, not the others'.
    world.clock.advance(minutes=1)
    fetched = get_message(world, south, sent["id"])
    assert fetched.status_code == 200
    view = fetched.json()
    assert view["body"] == "Are you flying at 0900?"
    assert "recipients" not in view
    assert view["own_status"]["state"] == "delivered"
    assert view["own_status"]["delivered_via"] == "fetched"
    assert view["own_status"]["delivered_at"] == at(world.clock)
    assert view["own_status"]["party_id"] == south.id
    assert aid.id not in json.dumps({k: v for k, v in view.items() if k != "to"})

    # The sender sees SOUTH delivered, AID still pending; fetching as sender delivers nothing.
    assert statuses(world, get_message(world, north, sent["id"]).json()) == {
        south.id: "delivered",
        aid.id: "pending",
    }

    # Acknowledge: received and read, by this token, now.
    world.clock.advance(minutes=2)
    ack = ack_message(world, south, sent["id"])
    assert ack.status_code == 200, ack.text
    assert ack.json()["meaning"] == MEANING
    assert ack.json()["token_id"] == south.token_id
    assert ack.json()["party_id"] == south.id
    assert ack.json()["acknowledged_at"] == at(world.clock)
    assert sent["id"] not in {i["subject_id"] for i in inbox(world, south, "pending")}
    settled = item(world, south, sent["id"])
    assert settled["state"] == "acknowledged"
    assert settled["acknowledged_by_token"] == south.token_id
    assert settled["acknowledged_at"] == at(world.clock)

    # Past the deadline: AID, which never acknowledged, is overdue for the sender.
    world.clock.advance(minutes=28)
    senders_view = get_message(world, north, sent["id"]).json()
    assert statuses(world, senders_view) == {south.id: "acknowledged", aid.id: "overdue"}
    [south_row] = [r for r in senders_view["recipients"] if r["party_id"] == south.id]
    assert south_row["acknowledged_by_token"] == south.token_id
    # The sent folder says the same.
    [in_sent] = [m for m in listed(world, north, folder="sent") if m["id"] == sent["id"]]
    assert statuses(world, in_sent) == {south.id: "acknowledged", aid.id: "overdue"}

    # SOUTH's acknowledgement is an event for SOUTH and NORTH, never for AID.
    acked = [e for e in events(ctx) if e["type"] == "message.acknowledged"]
    assert [json.loads(e["audience_json"]) for e in acked] == [sorted([south.id, north.id])]
    assert "message.acknowledged" not in {e["type"] for e in events(ctx, aid)}


def test_only_the_parties_of_a_message_may_see_it(world: World) -> None:
    sent = send(world, world.north, [world.south])
    for stranger in (world.aid, world.outsider):
        assert get_message(world, stranger, sent["id"]).status_code == 404
        assert ack_message(world, stranger, sent["id"]).status_code == 404
        assert sent["id"] not in {m["id"] for m in listed(world, stranger)}
        assert sent["id"] not in {i["subject_id"] for i in inbox(world, stranger)}
    assert get_message(world, world.south, "msg_0000000000000000").status_code == 404
    # The outsider may not even send on a line it is not on.
    assert post_message(world, world.outsider, [world.south]).status_code == 404

    # The operator sees every recipient's status; its reading delivers nothing.
    operators = get_message(world, world.operator, sent["id"])
    assert operators.status_code == 200
    assert statuses(world, operators.json()) == {world.south.id: "pending"}
    assert item(world, world.south, sent["id"])["delivered_at"] is None


def test_the_sender_cannot_acknowledge_its_own_message(world: World) -> None:
    sent = send(world, world.north, [world.south])
    refused = ack_message(world, world.north, sent["id"])
    assert refused.status_code == 409
    assert "recipient" in refused.json()["detail"]
    assert item(world, world.south, sent["id"])["state"] == "pending"


def test_acknowledging_twice_changes_nothing(world: World, ctx: Context) -> None:
    sent = send(world, world.north, [world.south])
    world.clock.advance(minutes=3)
    first = ack_message(world, world.south, sent["id"]).json()
    world.clock.advance(minutes=5)
    again = ack_message(world, world.south, sent["id"])
    assert again.status_code == 200 and again.json() == first
    # Another token of the same party changes nothing either: the first acknowledgement stands.
    token, token_id = world.new_token(world.south.id)
    duty = Party("SOUTH", world.south.id, token, token_id)
    third = ack_message(world, duty, sent["id"]).json()
    # The same acknowledgement and the same log entry, proved against the newest tree head.
    assert {**third, "receipt": None} == {**first, "receipt": None}
    assert third["receipt"]["leaf_index"] == first["receipt"]["leaf_index"]
    settled = item(world, world.south, sent["id"])
    assert settled["acknowledged_at"] == first["acknowledged_at"] == iso(T0 + timedelta(minutes=3))
    assert settled["acknowledged_by_token"] == world.south.token_id
    acks = [e for e in events(ctx) if e["type"] == "message.acknowledged"]
    assert len(acks) == 1


def test_an_idempotency_key_replays_the_same_message(world: World, ctx: Context) -> None:
    key = {"Idempotency-Key": "send-1"}
    first = post_message(world, world.north, [world.south], body="once", headers=key)
    world.clock.advance(minutes=1)
    replay = post_message(world, world.north, [world.south], body="once", headers=key)
    assert first.status_code == replay.status_code == 201
    assert replay.json()["id"] == first.json()["id"]
    assert [m["id"] for m in listed(world, world.north, folder="sent")] == [first.json()["id"]]
    assert [i["subject_id"] for i in inbox(world, world.south)] == [first.json()["id"]]
    assert len([e for e in events(ctx) if e["type"] == "message.sent"]) == 1

    reused = post_message(world, world.north, [world.south], body="something else", headers=key)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency-key-reused"

    # Acknowledging with a key is idempotent too.
    ack_key = {"Idempotency-Key": "ack-1"}
    one = ack_message(world, world.south, first.json()["id"], **ack_key)
    two = ack_message(world, world.south, first.json()["id"], **ack_key)
    assert one.status_code == two.status_code == 200 and one.json() == two.json()


# ---------------------------------------------------------------- threads


def test_replies_share_the_thread_of_the_message_they_answer(world: World) -> None:
    question = send(world, world.north, [world.south], type="query", body="Where exactly?")
    world.clock.advance(minutes=1)
    answer = send(
        world,
        world.south,
        [world.north],
        type="answer",
        body="Grid 37E.",
        in_reply_to=question["id"],
    )
    world.clock.advance(minutes=1)
    follow_up = send(
        world,
        world.north,
        [world.south, world.aid],
        body="Copied; AID for information.",
        in_reply_to=answer["id"],
    )
    world.clock.advance(minutes=1)
    unrelated = send(world, world.north, [world.south], body="Another subject.")

    assert answer["in_reply_to"] == question["id"]
    assert answer["thread_id"] == follow_up["thread_id"] == question["id"]
    assert unrelated["thread_id"] == unrelated["id"]

    thread = listed(world, world.north, thread_id=question["id"])
    assert [m["id"] for m in thread] == [follow_up["id"], answer["id"], question["id"]]
    # AID sees only the part of the thread addressed to it.
    assert [m["id"] for m in listed(world, world.aid, thread_id=question["id"])] == [
        follow_up["id"]
    ]
    assert listed(world, world.outsider, thread_id=question["id"]) == []


def test_a_reply_must_answer_a_visible_message_of_the_same_mechanism(world: World) -> None:
    elsewhere = world.new_mechanism()
    other_line = send_in(world, elsewhere, world.north, [world.south])
    between_others = send(world, world.north, [world.south])
    cases = [
        (world.south, other_line["id"], "another mechanism"),
        (world.aid, between_others["id"], "visible"),
        (world.south, "msg_0000000000000000", "visible"),
    ]
    for sender, parent, reason in cases:
        refused = post_message(world, sender, [world.north], in_reply_to=parent)
        assert refused.status_code == 422, (sender.code, parent)
        [error] = refused.json()["errors"]
        assert error["field"] == "in_reply_to" and reason in error["reason"]
    assert listed(world, world.aid, folder="sent") == []


def send_in(world: World, mechanism_id: str, sender: Party, to: list[Party]) -> dict[str, Any]:
    response = post_message(world, sender, to, mechanism_id=mechanism_id)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


# ---------------------------------------------------------------- validation


Change = Callable[[World], dict[str, Any]]

BAD_MESSAGES: list[tuple[str, Change, str]] = [
    ("unknown-type", lambda w: {"type": "gossip"}, "type"),
    ("no-type", lambda w: {"type": None}, "type"),
    ("bad-priority", lambda w: {"priority": "flash"}, "priority"),
    ("empty-body", lambda w: {"body": ""}, "body"),
    ("blank-body", lambda w: {"body": "   \n "}, "body"),
    ("long-body", lambda w: {"body": "x" * 10_001}, "body"),
    ("bell-in-body", lambda w: {"body": "ring\x07"}, "body"),
    ("nul-in-body", lambda w: {"body": "a\x00b"}, "body"),
    ("escape-in-body", lambda w: {"body": "\x1b[31mred"}, "body"),
    ("body-not-text", lambda w: {"body": 42}, "body"),
    ("to-empty", lambda w: {"to": []}, "to"),
    ("to-not-a-list", lambda w: {"to": w.south.id}, "to"),
    ("to-self", lambda w: {"to": [w.north.id]}, "to[0]"),
    ("to-twice", lambda w: {"to": [w.south.id, w.aid.id, w.south.id]}, "to[2]"),
    ("to-non-member", lambda w: {"to": [w.south.id, w.outsider.id]}, "to[1]"),
    ("to-unknown", lambda w: {"to": ["pty_0000000000000000"]}, "to[0]"),
    (
        "self-intersecting-attachment",
        lambda w: {
            "attachment": {
                "type": "Polygon",
                "coordinates": [
                    [[37.0, 36.0], [37.1, 36.1], [37.1, 36.0], [37.0, 36.1], [37.0, 36.0]]
                ],
            }
        },
        "attachment",
    ),
    ("negative-radius-attachment", lambda w: {"attachment": circle(37.0, 36.5, -5)}, "attachment"),
    ("deadline-past", lambda w: {"ack_deadline": at(w.clock, minutes=-1)}, "ack_deadline"),
    ("deadline-now", lambda w: {"ack_deadline": at(w.clock)}, "ack_deadline"),
    (
        "deadline-beyond-7-days",
        lambda w: {"ack_deadline": at(w.clock, days=7, seconds=1)},
        "ack_deadline",
    ),
    ("deadline-no-offset", lambda w: {"ack_deadline": "2031-05-01T07:00:00"}, "ack_deadline"),
    ("deadline-garbage", lambda w: {"ack_deadline": "tomorrow"}, "ack_deadline"),
    ("unknown-field", lambda w: {"colour": "red"}, "colour"),
    ("unknown-reference-kind", lambda w: {"references": {"flights": []}}, "references.flights"),
    (
        "unknown-notification",
        lambda w: {"references": {"notifications": ["ntf_0000000000000000"]}},
        "references.notifications[0]",
    ),
    (
        "unknown-conflict",
        lambda w: {"references": {"conflicts": ["cfl_0000000000000000"]}},
        "references.conflicts[0]",
    ),
    ("bad-signature", lambda w: {"signature": "not base64!"}, "signature"),
]


@pytest.mark.parametrize(
    "change, field_name", [c[1:] for c in BAD_MESSAGES], ids=[c[0] for c in BAD_MESSAGES]
)
def test_a_bad_message_is_refused_naming_the_field(
    world: World, change: Change, field_name: str
) -> None:
    body: dict[str, Any] = {"to": [world.south.id], "type": "text", "body": "hello"}
    body.update(change(world))
    response = world.client.post(messages_url(world), json=body, headers=world.north.headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f == field_name or f.startswith(field_name + ".") for f in fields), fields
    # Nothing was sent.
    assert listed(world, world.north) == []
    assert inbox(world, world.south) == []


def test_line_breaks_and_tabs_are_kept(world: World) -> None:
    text = "Line one\nLine two\n\tindented\r\nfrom Windows\r\n"
    sent = send(world, world.north, [world.south], body=text)
    assert sent["body"] == text
    assert get_message(world, world.south, sent["id"]).json()["body"] == text


def test_deadlines_default_from_the_rules_and_urgent_is_shorter(world: World) -> None:
    routine = send(world, world.north, [world.south])
    urgent = send(world, world.north, [world.south], priority="urgent")
    assert routine["recipients"][0]["deadline"] == iso(T0 + timedelta(minutes=30))
    assert urgent["recipients"][0]["deadline"] == iso(T0 + timedelta(minutes=10))
    assert urgent["priority"] == "urgent"

    # The mechanism's own rules decide.
    quick = world.new_mechanism({"ack_deadline_min": 45, "urgent_ack_deadline_min": 3})
    routine = send_in(world, quick, world.north, [world.south])
    response = post_message(
        world, world.north, [world.south], mechanism_id=quick, priority="urgent"
    )
    assert routine["recipients"][0]["deadline"] == iso(T0 + timedelta(minutes=45))
    assert response.json()["recipients"][0]["deadline"] == iso(T0 + timedelta(minutes=3))

    # An explicit deadline wins, normalised to UTC; exactly seven days ahead is allowed.
    offset = send(world, world.north, [world.south], ack_deadline="2031-05-01T09:15:00+02:00")
    assert offset["recipients"][0]["deadline"] == "2031-05-01T07:15:00Z"
    week = send(world, world.north, [world.south], ack_deadline=at(world.clock, days=7))
    assert week["recipients"][0]["deadline"] == iso(T0 + timedelta(days=7))


def test_references_must_be_visible_to_the_sender(world: World) -> None:
    north = world.notify(world.north, simple(world.clock, circle(37.0, 36.5)))
    far = world.notify(world.south, simple(world.clock, circle(39.0, 36.5)))
    assert far["conflicts"] == []

    # Need-to-know: SOUTH may not see NORTH's notification, so may not cite it.
    refused = post_message(
        world, world.south, [world.north], references={"notifications": [north["id"]]}
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["references.notifications[0]"]
    # Its own it may.
    own = send(world, world.south, [world.north], references={"notifications": [far["id"]]})
    assert own["references"] == {"notifications": [far["id"]], "conflicts": []}

    # Once they conflict, SOUTH sees NORTH's notification (its overlap) and may cite both.
    near = world.notify(world.south, simple(world.clock, circle(37.01, 36.5)))
    [conflict] = near["conflicts"]
    cited = send(
        world,
        world.south,
        [world.north, world.aid],
        references={
            "notifications": [north["id"], near["id"], north["id"]],
            "conflicts": [conflict["id"]],
        },
    )
    assert cited["references"] == {
        "notifications": sorted([north["id"], near["id"]]),
        "conflicts": [conflict["id"]],
    }
    # A conflict not its own: AID may not cite it.
    not_own = post_message(
        world, world.aid, [world.north], references={"conflicts": [conflict["id"]]}
    )
    assert not_own.status_code == 422
    assert [e["field"] for e in not_own.json()["errors"]] == ["references.conflicts[0]"]

    # A notification of another mechanism is not citable on this line, even one's own.
    elsewhere = world.new_mechanism()
    other = world.notify(world.south, simple(world.clock, circle(39.0, 36.5)), elsewhere)
    foreign = post_message(
        world, world.south, [world.north], references={"notifications": [other["id"]]}
    )
    assert foreign.status_code == 422


def test_under_full_disclosure_every_notification_is_citable(world: World) -> None:
    full = world.new_mechanism({"disclosure": "full"})
    north = world.notify(world.north, simple(world.clock, circle(37.0, 36.5)), full)
    cited = post_message(
        world,
        world.aid,
        [world.north],
        mechanism_id=full,
        references={"notifications": [north["id"]]},
    )
    assert cited.status_code == 201, cited.text


def test_an_attachment_is_kept_as_an_area(world: World) -> None:
    area = square(37.0, 36.5, 0.05)
    sent = send(world, world.north, [world.south], attachment=area)
    assert sent["attachment"]["type"] == "Polygon"
    assert sent["attachment"]["coordinates"] == area["coordinates"]
    too_big = post_message(world, world.north, [world.south], attachment=square(37.0, 36.5, 5.0))
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["field"].startswith("attachment")


# ---------------------------------------------------------------- system messages


def test_a_conflict_is_announced_to_both_parties(world: World, ctx: Context) -> None:
    north_id, south_id, conflict_id = conflicting_pair(world)
    for party in (world.north, world.south):
        conflict_item = item(world, party, conflict_id)
        assert conflict_item["subject_type"] == "conflict"
        assert conflict_item["state"] == "pending" and conflict_item["version"] == 1
        assert conflict_item["deadline"] == iso(T0 + timedelta(minutes=10))  # urgent
        [announced] = system_messages(world, party, "detected")
        assert announced["from"] is None and announced["system"] is True
        assert announced["priority"] == "urgent"
        assert announced["references"]["conflicts"] == [conflict_id]
        assert conflict_id in announced["body"]
        assert north_id in announced["body"] and south_id in announced["body"]
        assert sorted(announced["to"]) == sorted([world.north.id, world.south.id])
        # The announcement itself must be acknowledged too, urgently.
        assert item(world, party, announced["id"])["deadline"] == iso(T0 + timedelta(minutes=10))
    assert system_messages(world, world.aid) == []
    assert inbox(world, world.aid) == []

    # Acknowledging the conflict settles that party's item, not the other's.
    world.clock.advance(minutes=2)
    ack = world.client.post(f"/v1/conflicts/{conflict_id}/acknowledge", headers=world.south.headers)
    assert ack.status_code == 200 and ack.json()["meaning"] == MEANING
    south_item = item(world, world.south, conflict_id)
    assert south_item["state"] == "acknowledged"
    assert south_item["acknowledged_by_token"] == world.south.token_id
    assert south_item["acknowledged_at"] == at(world.clock)
    assert item(world, world.north, conflict_id)["state"] == "pending"
    assert conflict_id not in {i["subject_id"] for i in inbox(world, world.south, "pending")}
    assert conflict_id in {i["subject_id"] for i in inbox(world, world.north, "pending")}


def test_a_changed_overlap_must_be_acknowledged_again(world: World) -> None:
    north_id, _, conflict_id = conflicting_pair(world)
    world.client.post(f"/v1/conflicts/{conflict_id}/acknowledge", headers=world.south.headers)
    assert item(world, world.south, conflict_id)["state"] == "acknowledged"
    world.clock.advance(minutes=5)
    revise(
        world, world.north, north_id, simple(world.clock, circle(37.01, 36.5, 3_000), hours=(1, 5))
    )
    again = item(world, world.south, conflict_id)
    assert again["version"] == 2 and again["state"] not in ("acknowledged", "overdue")
    assert again["acknowledged_at"] is None and again["acknowledged_by_token"] is None
    assert conflict_id in {i["subject_id"] for i in inbox(world, world.south, "pending")}
    assert again["deadline"] == iso(world.clock.now + timedelta(minutes=10))
    # The revision also tells SOUTH that a notification conflicting with its own changed.
    [revised] = system_messages(world, world.south, "was revised")
    assert revised["references"]["notifications"] == [north_id]
    assert system_messages(world, world.north, "was revised") == []


def test_an_overlap_stored_in_other_digits_is_not_a_change(world: World, ctx: Context) -> None:
    # A release that wrote the stored overlaps' JSON text otherwise (services/stored_json.py):
    # a revision that draws the same overlaps leaves the conflict as it was.
    north_id, _, conflict_id = conflicting_pair(world)
    world.client.post(f"/v1/conflicts/{conflict_id}/acknowledge", headers=world.south.headers)
    [(stored,)] = world.db.rows("SELECT overlaps_json FROM conflicts WHERE id = ?", (conflict_id,))
    other_text = json.dumps(json.loads(stored), indent=1)
    world.db.rows("UPDATE conflicts SET overlaps_json = ? WHERE id = ?", (other_text, conflict_id))
    revise(world, world.north, north_id, simple(world.clock, circle(37.0, 36.5, 3_000)))
    assert world.db.rows("SELECT overlaps_json FROM conflicts WHERE id = ?", (conflict_id,)) == [
        (other_text,)
    ]
    unchanged = item(world, world.south, conflict_id)
    assert unchanged["version"] == 1 and unchanged["state"] == "acknowledged"
    assert "conflict.updated" not in {event["type"] for event in events(ctx)}


def test_fetching_a_conflict_is_its_delivery(world: World) -> None:
    _, _, conflict_id = conflicting_pair(world)
    assert item(world, world.south, conflict_id)["delivered_at"] is None
    world.clock.advance(minutes=1)
    assert (
        world.client.get(f"/v1/conflicts/{conflict_id}", headers=world.south.headers).status_code
        == 200
    )
    delivered = item(world, world.south, conflict_id)
    assert delivered["state"] == "delivered" and delivered["delivered_via"] == "fetched"
    assert delivered["delivered_at"] == at(world.clock)
    assert item(world, world.north, conflict_id)["delivered_at"] is None


def test_a_new_version_is_not_delivered_until_it_is(world: World) -> None:
    north_id, _, conflict_id = conflicting_pair(world)
    world.client.get(f"/v1/conflicts/{conflict_id}", headers=world.south.headers)
    assert item(world, world.south, conflict_id)["state"] == "delivered"
    world.clock.advance(minutes=1)
    revise(
        world, world.north, north_id, simple(world.clock, circle(37.01, 36.5, 3_000), hours=(1, 5))
    )
    again = item(world, world.south, conflict_id)
    assert again["version"] == 2
    assert again["state"] == "pending" and again["delivered_at"] is None


def test_a_resolved_conflict_closes_its_items(world: World) -> None:
    north_id, _, conflict_id = conflicting_pair(world)
    world.client.post(f"/v1/conflicts/{conflict_id}/acknowledge", headers=world.north.headers)
    world.clock.advance(minutes=4)
    revise(world, world.north, north_id, simple(world.clock, circle(38.0, 36.5, 3_000)))

    # NORTH had acknowledged: that stays. SOUTH had not: its item is closed, no longer due.
    assert item(world, world.north, conflict_id)["state"] == "acknowledged"
    closed = item(world, world.south, conflict_id)
    assert closed["state"] == "closed" and closed["closed_at"] == at(world.clock)
    assert closed["attempts"][-1]["action"] == "closed"
    assert "resolved" in closed["attempts"][-1]["reason"]
    assert conflict_id not in {i["subject_id"] for i in inbox(world, world.south, "pending")}
    for party in (world.north, world.south):
        [resolved] = system_messages(world, party, "resolved")
        assert resolved["references"]["conflicts"] == [conflict_id]
        assert resolved["priority"] == "routine"
        assert conflict_id in resolved["body"]
    assert system_messages(world, world.aid) == []


def test_cancelling_a_notification_in_conflict_tells_the_other_party(world: World) -> None:
    north_id, _, conflict_id = conflicting_pair(world)
    world.clock.advance(minutes=1)
    cancelled = world.client.post(
        f"/v1/notifications/{north_id}/cancel", headers=world.north.headers
    )
    assert cancelled.status_code == 200
    [told] = system_messages(world, world.south, "which conflicts with yours, was cancelled")
    assert told["references"]["notifications"] == [north_id]
    assert north_id in told["body"]
    assert system_messages(world, world.north, "which conflicts with yours") == []
    assert system_messages(world, world.aid) == []
    for party in (world.north, world.south):
        assert item(world, party, conflict_id)["state"] == "closed"
        assert len(system_messages(world, party, "resolved")) == 1


def test_a_late_notification_is_announced_to_the_party_in_conflict(world: World) -> None:
    south = world.notify(world.south, simple(world.clock, circle(37.0, 36.5), hours=(2, 6)))
    # Twenty minutes ahead: less than the 60 minutes of minimum notice.
    late = world.notify(
        world.north,
        notification(
            volume(circle(37.01, 36.5), at(world.clock, minutes=20), at(world.clock, hours=4))
        ),
    )
    assert late["late"] is True and late["conflicts"]
    [told] = system_messages(world, world.south, "Late notification")
    assert told["priority"] == "urgent"
    assert told["references"]["notifications"] == [late["id"]]
    assert south["id"] not in told["references"]["notifications"]
    assert system_messages(world, world.north, "Late notification") == []
    assert system_messages(world, world.aid) == []

    # A late notification in conflict with nobody is told to nobody under need-to-know.
    world.notify(
        world.aid,
        notification(
            volume(circle(39.0, 36.5), at(world.clock, minutes=20), at(world.clock, hours=4))
        ),
    )
    assert len(system_messages(world, world.south, "Late notification")) == 1
    assert system_messages(world, world.north, "Late notification") == []


def test_under_full_disclosure_every_member_acknowledges_every_version(world: World) -> None:
    full = world.new_mechanism({"disclosure": "full"})
    created = world.notify(world.north, simple(world.clock, circle(37.0, 36.5)), full)
    for party in (world.south, world.aid):
        got = item(world, party, created["id"])
        assert got["subject_type"] == "notification" and got["version"] == 1
        assert got["state"] == "pending" and got["party_id"] == party.id
        assert got["deadline"] == iso(T0 + timedelta(minutes=30))
    assert created["id"] not in {i["subject_id"] for i in inbox(world, world.north)}

    ack = world.client.post(
        f"/v1/notifications/{created['id']}/acknowledge", headers=world.aid.headers
    )
    assert ack.status_code == 200 and ack.json()["meaning"] == MEANING
    assert item(world, world.aid, created["id"])["state"] == "acknowledged"

    # A revision is a new version each must acknowledge again.
    world.clock.advance(minutes=5)
    revise(world, world.north, created["id"], simple(world.clock, circle(37.2, 36.5)))
    for party in (world.south, world.aid):
        got = item(world, party, created["id"])
        assert got["version"] == 2 and got["acknowledged_at"] is None
        assert created["id"] in {i["subject_id"] for i in inbox(world, party, "pending")}

    # A late notification under full disclosure is announced to every other member.
    late = world.notify(
        world.north,
        notification(
            volume(circle(38.0, 36.5), at(world.clock, minutes=5), at(world.clock, hours=1))
        ),
        full,
    )
    for party in (world.south, world.aid):
        [told] = [m for m in system_messages(world, party, "Late") if late["id"] in m["body"]]
        assert told["mechanism_id"] == full

    # Cancelled: nothing more to acknowledge.
    world.client.post(f"/v1/notifications/{created['id']}/cancel", headers=world.north.headers)
    for party in (world.south, world.aid):
        assert item(world, party, created["id"])["state"] == "closed"


def test_system_messages_are_acknowledged_like_any_other(world: World) -> None:
    conflicting_pair(world)
    [announced] = system_messages(world, world.south, "detected")
    ack = ack_message(world, world.south, announced["id"])
    assert ack.status_code == 200 and ack.json()["meaning"] == MEANING
    assert item(world, world.south, announced["id"])["state"] == "acknowledged"
    assert item(world, world.north, announced["id"])["state"] == "pending"  # not yet fetched
    # Nobody may reply as the service, but a party may reply to it.
    reply = send(world, world.south, [world.north], in_reply_to=announced["id"])
    assert reply["thread_id"] == announced["id"]


# ---------------------------------------------------------------- signing


def test_a_signed_message_verifies_offline(world: World) -> None:
    key = SigningKey.generate()
    registered = register(world, world.north, key)
    assert registered["algorithm"] == "Ed25519" and registered["party_id"] == world.north.id
    own = world.notify(world.north, simple(world.clock, circle(37.0, 36.5)))
    first = send(world, world.south, [world.north])
    fields: dict[str, Any] = {
        "type": "request-change",
        "priority": "urgent",
        "references": {"notifications": [own["id"]]},
        "attachment": square(37.0, 36.5, 0.01),
        "in_reply_to": first["id"],
    }
    to = [world.south, world.aid]
    body = "Please move 5 km east.\nThanks."
    signature = sign(key, signed_content(world, to, body, **fields))
    sent = send(world, world.north, to, body=body, signature=signature, **fields)
    assert sent["signature"]["algorithm"] == "Ed25519"
    assert sent["signature"]["value"] == signature
    assert sent["signature"]["public_key"] == b64(bytes(key.verify_key))

    view = get_message(world, world.aid, sent["id"]).json()
    published = world.client.get(f"/v1/parties/{world.north.id}/key", headers=world.aid.headers)
    assert published.status_code == 200
    assert verify_offline(view) == []
    assert verify_offline(view, public_key=published.json()["public_key"]) == []

    tampered_body = {**view, "body": "Please move 5 km west.\nThanks."}
    assert any("body" in p for p in verify_offline(tampered_body))
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 1
    bad_value = {**view, "signature": {**view["signature"], "value": b64(bytes(raw))}}
    assert any("does not verify" in p for p in verify_offline(bad_value))
    both = {
        **tampered_body,
        "signature": {
            **view["signature"],
            "signed": {**view["signature"]["signed"], "body": tampered_body["body"]},
        },
    }
    assert any("does not verify" in p for p in verify_offline(both))
    other_key = b64(bytes(SigningKey.generate().verify_key))
    assert any("does not verify" in p for p in verify_offline(view, public_key=other_key))
    assert verify_offline({**view, "signature": None}) != []

    # A replaced key does not invalidate what was signed with the old one.
    register(world, world.north, SigningKey.generate())
    assert verify_offline(get_message(world, world.south, sent["id"]).json()) == []


def test_a_bad_signature_is_refused(world: World) -> None:
    key = SigningKey.generate()
    register(world, world.north, key)
    to = [world.south]
    good = signed_content(world, to, "the real text")
    cases = {
        "other text": sign(key, signed_content(world, to, "other text")),
        "other key": sign(SigningKey.generate(), good),
        "other recipients": sign(key, signed_content(world, [world.aid], "the real text")),
        "other priority": sign(key, {**good, "priority": "urgent"}),
        "too short": b64(b"\x00" * 10),
        "not base64": "***",
    }
    for why, signature in cases.items():
        refused = post_message(world, world.north, to, body="the real text", signature=signature)
        assert refused.status_code == 422, why
        assert [e["field"] for e in refused.json()["errors"]] == ["signature"], why
    assert listed(world, world.north) == []
    accepted = post_message(world, world.north, to, body="the real text", signature=sign(key, good))
    assert accepted.status_code == 201


def test_a_signature_needs_a_registered_key(world: World) -> None:
    key = SigningKey.generate()
    signature = sign(key, signed_content(world, [world.north], "hello"))
    refused = post_message(world, world.south, [world.north], signature=signature)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "signature" and "/v1/keys/me" in error["reason"]
    # Another party's key is not yours.
    register(world, world.north, key)
    refused = post_message(world, world.south, [world.north], signature=signature)
    assert refused.status_code == 422


def test_public_keys_are_shown_to_parties_sharing_a_mechanism(world: World) -> None:
    key = SigningKey.generate()
    register(world, world.north, key)
    url = f"/v1/parties/{world.north.id}/key"
    for viewer in (world.north.headers, world.south.headers, world.aid.headers, world.operator):
        got = world.client.get(url, headers=viewer)
        assert got.status_code == 200
        assert got.json()["public_key"] == b64(bytes(key.verify_key))
    assert world.client.get(url, headers=world.outsider.headers).status_code == 404
    no_key = world.client.get(f"/v1/parties/{world.south.id}/key", headers=world.north.headers)
    assert no_key.status_code == 404
    bad = world.client.put(
        "/v1/keys/me", json={"public_key": b64(b"short")}, headers=world.north.headers
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "public_key"
    operator = world.client.put(
        "/v1/keys/me", json={"public_key": b64(bytes(key.verify_key))}, headers=world.operator
    )
    assert operator.status_code == 403


# ---------------------------------------------------------------- line status


def line_status(world: World, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = world.client.get(
        f"/v1/mechanisms/{world.mechanism_id}/status", headers=headers or world.operator
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def members(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["party"]["id"]: m for m in status["members"]}


def test_status_counts_overdue_items_per_member(world: World) -> None:
    send(world, world.north, [world.south, world.aid])  # due in 30 minutes
    send(world, world.north, [world.south], priority="urgent")  # due in 10
    now = members(line_status(world))
    assert {p: m["overdue_items"] for p, m in now.items()} == {
        world.north.id: 0,
        world.south.id: 0,
        world.aid.id: 0,
    }
    world.clock.advance(minutes=11)
    assert members(line_status(world))[world.south.id]["overdue_items"] == 1
    assert members(line_status(world))[world.aid.id]["overdue_items"] == 0
    world.clock.advance(minutes=20)
    counts = {p: m["overdue_items"] for p, m in members(line_status(world)).items()}
    assert counts == {world.north.id: 0, world.south.id: 2, world.aid.id: 1}
    assert len(inbox(world, world.south, "overdue")) == 2

    # Acknowledging late still settles: nothing overdue for AID any more.
    [aid_item] = inbox(world, world.aid, "overdue")
    assert ack_message(world, world.aid, aid_item["subject_id"]).status_code == 200
    assert members(line_status(world))[world.aid.id]["overdue_items"] == 0
    assert inbox(world, world.aid, "overdue") == []

    # Without webhooks, reachability is unknown rather than claimed.
    status = line_status(world, world.south.headers)
    assert [m["webhook"] for m in status["members"]] == [None, None, None]
    assert status["silence_alarm_min"] == 60
    assert status["at"] == at(world.clock)
    assert (
        world.client.get(
            f"/v1/mechanisms/{world.mechanism_id}/status", headers=world.outsider.headers
        ).status_code
        == 404
    )


def test_last_contact_is_recorded_at_most_every_30_seconds(world: World, ctx: Context) -> None:
    before = members(line_status(world))  # the operator's calls are no party's contact
    assert {m["last_contact_at"] for m in before.values()} == {None}

    world.client.get("/v1/me", headers=world.north.headers)
    assert members(line_status(world))[world.north.id]["last_contact_at"] == iso(T0)
    assert members(line_status(world))[world.south.id]["last_contact_at"] is None

    # Ten (clock) minutes later but within 30 s of real time: not written again.
    world.clock.advance(minutes=10)
    world.client.get("/v1/me", headers=world.north.headers)
    assert members(line_status(world))[world.north.id]["last_contact_at"] == iso(T0)

    # Once 30 s of real time have passed (the mark is moved back instead of sleeping) it is.
    ctx.heard[world.north.id] -= 31
    world.client.get("/v1/me", headers=world.north.headers)
    assert members(line_status(world))[world.north.id]["last_contact_at"] == at(world.clock)

    # A refused call of a known party still counts as contact; an unknown token does not.
    ctx.heard.pop(world.south.id, None)
    world.client.get("/v1/messages/msg_0000000000000000", headers=world.south.headers)
    assert members(line_status(world))[world.south.id]["last_contact_at"] == at(world.clock)


def test_the_api_says_received_and_read(world: World) -> None:
    spec = world.client.get("/openapi.json", headers=world.north.headers).json()
    for path in (
        "/v1/messages/{message_id}/acknowledge",
        "/v1/conflicts/{conflict_id}/acknowledge",
        "/v1/notifications/{notification_id}/acknowledge",
    ):
        operation = spec["paths"][path]["post"]
        text = f"{operation.get('summary', '')} {operation.get('description', '')}"
        assert MEANING in text, path
