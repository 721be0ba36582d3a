"""Incidents over HTTP: reports with links, who sees them, every refusal naming its field,
review and close and who may, the line's system message, messages citing incidents, and the
report bundle checked the way a third party would, down to its HTML page.

The scene: NORTH's N1 conflicts with SOUTH's S1; SOUTH's S2 conflicts with AID's A2 far away;
NORTH has written to SOUTH. An incident NORTH reports about N1, the conflict and that message
involves NORTH and SOUTH; AID is an uninvolved member, OUTSIDER not a member at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
import rfc8785

from deconfliction.cli.incident_html import render
from deconfliction.proof import receipts
from deconfliction.services.context import Context

from .bundles import verify_bundle
from .conftest import World, at, circle, polygon, simple
from .test_line import listed

N1_TITLE = "Operation GRANITE north sector"
MARKER = "MARKER-7f3a-between-south-and-aid-only"
MISSING = "inc_0000000000000000"


# ---------------------------------------------------------------- the scene


@dataclass
class Scene:
    world: World
    n1: dict[str, Any]
    s1: dict[str, Any]
    a1: dict[str, Any]
    conflict_id: str
    other_conflict_id: str
    message_id: str

    def url(self, mechanism_id: str | None = None) -> str:
        return f"/v1/mechanisms/{mechanism_id or self.world.mechanism_id}/incidents"

    def body(self, **fields: Any) -> dict[str, Any]:
        """A report of a near miss over N1 half an hour ago, linking N1, the conflict and the
        message; `fields` replace or add to it."""
        return {
            "kind": "near-miss",
            "occurred_at": at(self.world.clock, minutes=-30),
            "place": circle(37.0, 36.5, 1_500),
            "description": "A helicopter passed within 300 m of the convoy.\nNo one was hurt.",
            "notification_ids": [self.n1["id"]],
            "conflict_ids": [self.conflict_id],
            "message_ids": [self.message_id],
            **fields,
        }

    def post(self, headers: dict[str, str], body: dict[str, Any], **extra: str) -> Any:
        return self.world.client.post(self.url(), json=body, headers={**headers, **extra})

    def report(self, party: Any = None, **fields: Any) -> dict[str, Any]:
        response = self.post((party or self.world.north).headers, self.body(**fields))
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def message(self, sender: Any, to: list[Any], body: str, **fields: Any) -> dict[str, Any]:
        response = self.world.client.post(
            f"/v1/mechanisms/{self.world.mechanism_id}/messages",
            json={"to": [p.id for p in to], "type": "text", "body": body, **fields},
            headers=sender.headers,
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def scene(world: World) -> Scene:
    clock = world.clock
    n1 = world.notify(world.north, simple(clock, circle(37.0, 36.5, 5_000), title=N1_TITLE))
    s1 = world.notify(world.south, simple(clock, circle(37.06, 36.5), kind="ground"))
    a1 = world.notify(world.aid, simple(clock, circle(38.5, 36.5), kind="site"))
    world.notify(world.south, simple(clock, circle(39.5, 36.5), kind="ground"))
    a2 = world.notify(world.aid, simple(clock, circle(39.51, 36.5), kind="site"))
    assert len(s1["conflicts"]) == 1 and len(a2["conflicts"]) == 1 and not a1["conflicts"]
    scene = Scene(world, n1, s1, a1, s1["conflicts"][0]["id"], a2["conflicts"][0]["id"], "")
    scene.message_id = scene.message(world.north, [world.south], "Convoy timing?")["id"]
    return scene


def public_key(ctx: Context) -> bytes:
    return bytes(ctx.keys.current.verify_key)


def codes(view: dict[str, Any]) -> set[str]:
    return {p["code"] for p in view["involved_parties"]}


def messages_of(world: World, party: Any) -> list[dict[str, Any]]:
    response = world.client.get("/v1/messages", params={"folder": "inbox"}, headers=party.headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def announcements(world: World, party: Any, incident_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in messages_of(world, party)
        if m["system"] and m["references"].get("incidents") == [incident_id]
    ]


def bundle_of(scene: Scene, headers: dict[str, str], incident_id: str) -> dict[str, Any]:
    response = scene.world.client.get(f"/v1/incidents/{incident_id}/report", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# ---------------------------------------------------------------- reporting


def test_a_report_links_what_was_involved_and_answers_with_a_receipt(
    scene: Scene, ctx: Context
) -> None:
    w = scene.world
    view = scene.report(occurred_at="2031-05-01T07:40:00+02:00")
    assert view["id"].startswith("inc_") and view["state"] == "reported"
    assert view["kind"] == "near-miss"
    assert view["occurred_at"] == "2031-05-01T05:40:00Z"  # normalised to UTC
    assert view["place"] == {"type": "Circle", "center": [37.0, 36.5], "radius": 1500.0}
    assert view["description"].endswith("\nNo one was hurt.")
    assert view["reporter"]["code"] == "NORTH"
    assert codes(view) == {"NORTH", "SOUTH"}  # N1's owner, the conflict's and message's parties
    assert view["notification_ids"] == [scene.n1["id"]]
    assert view["conflict_ids"] == [scene.conflict_id]
    assert view["message_ids"] == [scene.message_id]
    assert view["reported_by"] == {"token_id": w.north.token_id, "party_id": w.north.id}
    assert view["reviewed_at"] is None and view["closed_at"] is None and view["finding"] is None

    # The receipt proves the report's log entry, which binds everything it says by its hash.
    receipt = view.pop("receipt")
    entry = receipt["entry"]
    assert entry["kind"] == "incident.reported" and entry["subject_id"] == view["id"]
    assert entry["by"] == {"token_id": w.north.token_id, "party_id": w.north.id}
    content = {
        "incident_id": view["id"],
        "mechanism_id": w.mechanism_id,
        "reporter": w.north.id,
        "kind": "near-miss",
        "occurred_at": view["occurred_at"],
        "place": view["place"],
        "description": view["description"],
        "notification_ids": view["notification_ids"],
        "conflict_ids": view["conflict_ids"],
        "message_ids": view["message_ids"],
        "involved_parties": sorted([w.north.id, w.south.id]),
    }
    item = {"at": entry["at"], "kind": entry["kind"], "subject_id": view["id"]}
    verify_bundle(
        {
            "format": "deconfliction-receipts/v1",
            "tree_heads": [receipt["tree_head"]],
            "receipts": [receipt],
            "timeline": [{**item, "leaf_index": receipt["leaf_index"], "content": content}],
        },
        public_key(ctx),
    )
    assert w.client.get(f"/v1/incidents/{view['id']}", headers=w.north.headers).json() == view


def test_the_parties_of_a_linked_message_are_involved(scene: Scene) -> None:
    w = scene.world
    to_aid = scene.message(w.north, [w.aid], "Your site is near our route.")
    view = scene.report(notification_ids=[], conflict_ids=[], message_ids=[to_aid["id"]])
    assert codes(view) == {"NORTH", "AID"}
    # A report linking nothing involves the reporter alone, and tells nobody.
    alone = scene.report(w.aid, notification_ids=[], conflict_ids=[], message_ids=[])
    assert codes(alone) == {"AID"}
    assert announcements(w, w.north, alone["id"]) == []


def test_an_idempotency_key_replays_the_same_report(scene: Scene) -> None:
    w = scene.world
    first = scene.post(w.north.headers, scene.body(), **{"Idempotency-Key": "incident-0001"})
    again = scene.post(w.north.headers, scene.body(), **{"Idempotency-Key": "incident-0001"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    listed = w.client.get(scene.url(), headers=w.north.headers).json()
    assert [i["id"] for i in listed] == [first.json()["id"]]
    assert len(announcements(w, w.south, first.json()["id"])) == 1


def test_the_operator_and_outsiders_cannot_report(scene: Scene) -> None:
    w = scene.world
    assert scene.post(w.operator, scene.body()).status_code == 403
    assert scene.post(w.outsider.headers, scene.body()).status_code == 404


# ---------------------------------------------------------------- who sees it


def _same_as_missing(response: Any, missing: Any, incident_id: str) -> None:
    assert response.status_code == missing.status_code == 404
    assert response.headers["content-type"] == missing.headers["content-type"]
    assert response.text.replace(incident_id, MISSING) == missing.text


def test_only_the_parties_involved_and_the_operator_see_it(scene: Scene) -> None:
    w = scene.world
    incident = scene.report()
    incident_id = incident["id"]
    for headers in (w.north.headers, w.south.headers, w.operator):
        seen = w.client.get(f"/v1/incidents/{incident_id}", headers=headers)
        assert seen.status_code == 200 and seen.json()["description"] == incident["description"]
        listed = w.client.get(scene.url(), headers=headers)
        assert [i["id"] for i in listed.json()] == [incident_id]

    # To an uninvolved member and to an outsider it is exactly a missing id, on every route.
    calls = [
        ("GET", "/v1/incidents/{}", None),
        ("GET", "/v1/incidents/{}/report", None),
        ("POST", "/v1/incidents/{}/review", None),
        ("POST", "/v1/incidents/{}/close", {"finding": "nothing"}),
    ]
    for party in (w.aid, w.outsider):
        for method, path, body in calls:
            response = w.client.request(
                method, path.format(incident_id), json=body, headers=party.headers
            )
            missing = w.client.request(
                method, path.format(MISSING), json=body, headers=party.headers
            )
            _same_as_missing(response, missing, incident_id)
    assert w.client.get(scene.url(), headers=w.aid.headers).json() == []
    assert w.client.get(scene.url(), headers=w.outsider.headers).status_code == 404
    # Nothing of it reached AID on the line either.
    assert incident_id not in json.dumps(messages_of(w, w.aid))


def test_lists_filter_by_state_and_limit(scene: Scene) -> None:
    w = scene.world
    first = scene.report()
    w.clock.advance(minutes=1)
    second = scene.report()
    reviewed = w.client.post(f"/v1/incidents/{first['id']}/review", headers=w.operator)
    assert reviewed.status_code == 200

    def ids(**params: Any) -> list[str]:
        response = w.client.get(scene.url(), params=params, headers=w.south.headers)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()]

    assert ids() == [second["id"], first["id"]]  # newest first
    assert ids(state="under_review") == [first["id"]]
    assert ids(state="reported", limit=1) == [second["id"]]
    for params, field in (({"state": "open"}, "state"), ({"limit": 1_001}, "limit")):
        response = w.client.get(scene.url(), params=params, headers=w.south.headers)
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]


# ---------------------------------------------------------------- validation

Change = dict[str, Any]


def _bad_cases(scene: Scene) -> dict[str, tuple[Change, str, str]]:
    """name → (change to the body, the field named, a text the reason must hold)."""
    w = scene.world
    elsewhere = w.new_mechanism()
    foreign = w.notify(w.north, simple(w.clock, circle(36.0, 35.0)), elsewhere)
    south_to_aid = scene.message(w.south, [w.aid], "between others")
    bowtie = polygon([[37.0, 36.5], [37.1, 36.6], [37.1, 36.5], [37.0, 36.6]])
    return {
        "unknown kind": ({"kind": "accident"}, "kind", ""),
        "no offset": ({"occurred_at": "2031-05-01T05:00:00"}, "occurred_at", "offset"),
        "not a time": ({"occurred_at": "yesterday"}, "occurred_at", "RFC 3339"),
        "future": ({"occurred_at": at(w.clock, minutes=10)}, "occurred_at", "future"),
        "long ago": ({"occurred_at": at(w.clock, days=-400)}, "occurred_at", "366 days"),
        "self-crossing place": ({"place": bowtie}, "place", ""),
        "place too big": ({"place": circle(37.0, 36.5, 400_000)}, "place", ""),
        "place not an area": ({"place": {"type": "Point"}}, "place", ""),
        "empty description": ({"description": ""}, "description", ""),
        "blank description": ({"description": "  \n "}, "description", "non-empty"),
        "long description": ({"description": "x" * 10_001}, "description", ""),
        "control character": ({"description": "a\x00b"}, "description", "control"),
        "unknown notification": (
            {"notification_ids": ["ntf_doesnotexist"]},
            "notification_ids[0]",
            "ntf_doesnotexist",
        ),
        "notification not visible": (
            {"notification_ids": [scene.a1["id"]]},
            "notification_ids[0]",
            scene.a1["id"],
        ),
        "notification of another mechanism": (
            {"notification_ids": [foreign["id"]]},
            "notification_ids[0]",
            foreign["id"],
        ),
        "named twice": (
            {"notification_ids": [scene.n1["id"], scene.n1["id"]]},
            "notification_ids[1]",
            "twice",
        ),
        "too many": (
            {"notification_ids": [f"ntf_{i}" for i in range(101)]},
            "notification_ids",
            "",
        ),
        "not a string": ({"notification_ids": [5]}, "notification_ids[0]", ""),
        "conflict of others": (
            {"conflict_ids": [scene.other_conflict_id]},
            "conflict_ids[0]",
            scene.other_conflict_id,
        ),
        "message of others": (
            {"message_ids": [south_to_aid["id"]]},
            "message_ids[0]",
            south_to_aid["id"],
        ),
        "unknown field": ({"severity": "high"}, "severity", ""),
    }


CASES = [
    "unknown kind",
    "no offset",
    "not a time",
    "future",
    "long ago",
    "self-crossing place",
    "place too big",
    "place not an area",
    "empty description",
    "blank description",
    "long description",
    "control character",
    "unknown notification",
    "notification not visible",
    "notification of another mechanism",
    "named twice",
    "too many",
    "not a string",
    "conflict of others",
    "message of others",
    "unknown field",
]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_report_is_refused_naming_the_field(scene: Scene, case: str) -> None:
    w = scene.world
    change, field, reason = _bad_cases(scene)[case]
    response = scene.post(w.north.headers, scene.body(**change))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    named = [e for e in errors if e["field"] == field or e["field"].startswith(field + ".")]
    assert named, errors
    assert any(reason in e["reason"] for e in named), errors
    # Nothing was recorded and nobody was told.
    assert w.client.get(scene.url(), headers=w.operator).json() == []
    assert not [m for m in messages_of(w, w.south) if m["references"].get("incidents")]


def test_every_bad_link_is_named_at_once(scene: Scene) -> None:
    body = scene.body(
        notification_ids=[scene.n1["id"], scene.a1["id"]],
        conflict_ids=[scene.other_conflict_id],
        message_ids=["msg_nope"],
    )
    response = scene.post(scene.world.north.headers, body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [
        "notification_ids[1]",
        "conflict_ids[0]",
        "message_ids[0]",
    ]


# ---------------------------------------------------------------- review and close


def _step(scene: Scene, party_headers: dict[str, str], incident_id: str, step: str) -> Any:
    body = {"finding": "The helicopter strayed 400 m off its notified corridor."}
    return scene.world.client.post(
        f"/v1/incidents/{incident_id}/{step}",
        json=body if step == "close" else None,
        headers=party_headers,
    )


def test_review_then_close_and_who_may(scene: Scene, ctx: Context) -> None:
    w = scene.world
    incident_id = scene.report()["id"]

    # Closing needs a review first.
    early = _step(scene, w.north.headers, incident_id, "close")
    assert early.status_code == 409 and early.json()["code"] == "state-conflict"

    # Any involved party may take it under review: here SOUTH, which did not report it.
    w.clock.advance(minutes=5)
    reviewed = _step(scene, w.south.headers, incident_id, "review")
    assert reviewed.status_code == 200, reviewed.text
    view = reviewed.json()
    assert view["state"] == "under_review" and view["reviewed_at"] == at(w.clock)
    assert view["reviewed_by"] == {"token_id": w.south.token_id, "party_id": w.south.id}
    assert view["receipt"]["entry"]["kind"] == "incident.under_review"
    again = _step(scene, w.north.headers, incident_id, "review")
    assert again.status_code == 409

    # Only the reporting party or the operator closes it, and only with a finding.
    refused = _step(scene, w.south.headers, incident_id, "close")
    assert refused.status_code == 403 and refused.json()["code"] == "permission-denied"
    for finding, reason in (("", ""), ("  ", "non-empty"), ("x" * 10_001, "")):
        bad = w.client.post(
            f"/v1/incidents/{incident_id}/close",
            json={"finding": finding},
            headers=w.north.headers,
        )
        assert bad.status_code == 422
        assert [e["field"] for e in bad.json()["errors"]] == ["finding"]
        assert reason in bad.json()["errors"][0]["reason"]
    missing = w.client.post(f"/v1/incidents/{incident_id}/close", json={}, headers=w.north.headers)
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["finding"]

    w.clock.advance(minutes=5)
    closed = _step(scene, w.north.headers, incident_id, "close")
    assert closed.status_code == 200, closed.text
    view = closed.json()
    assert view["state"] == "closed" and view["closed_at"] == at(w.clock)
    assert view["finding"].startswith("The helicopter strayed")
    assert view["closed_by"] == {"token_id": w.north.token_id, "party_id": w.north.id}
    entry = view["receipt"]["entry"]
    assert entry["kind"] == "incident.closed"
    finding = {"incident_id": incident_id, "finding": view["finding"]}
    assert hashlib.sha256(rfc8785.dumps(finding)).hexdigest() == entry["content_sha256"]
    for step in ("review", "close"):
        assert _step(scene, w.operator, incident_id, step).status_code == 409


def test_the_operator_reviews_and_closes_and_retries_are_replayed(scene: Scene) -> None:
    w = scene.world
    incident_id = scene.report(w.south, notification_ids=[])["id"]
    key = {"Idempotency-Key": "review-1"}
    first = w.client.post(f"/v1/incidents/{incident_id}/review", headers={**w.operator, **key})
    again = w.client.post(f"/v1/incidents/{incident_id}/review", headers={**w.operator, **key})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["reviewed_by"]["party_id"] is None  # the operator
    closed = _step(scene, w.operator, incident_id, "close")
    assert closed.status_code == 200 and closed.json()["closed_by"]["party_id"] is None


# ---------------------------------------------------------------- the line


def test_the_other_parties_involved_are_told_on_the_line(scene: Scene) -> None:
    w = scene.world
    incident_id = scene.report()["id"]
    [told] = announcements(w, w.south, incident_id)
    assert told["from"] is None and told["priority"] == "urgent"
    assert told["to"] == [w.south.id]
    assert incident_id in told["body"] and "NORTH" in told["body"]
    assert announcements(w, w.north, incident_id) == []  # the reporter is not told
    assert announcements(w, w.aid, incident_id) == []

    # It must be acknowledged like any message, and SOUTH answers on the line citing it.
    items = w.client.get("/v1/inbox", headers=w.south.headers).json()
    assert told["id"] in {i["subject_id"] for i in items}
    ack = w.client.post(f"/v1/messages/{told['id']}/acknowledge", headers=w.south.headers)
    assert ack.status_code == 200 and ack.json()["meaning"] == "received and read"
    answer = scene.message(
        w.south, [w.north], "We saw it too.", references={"incidents": [incident_id]}
    )
    assert answer["references"] == {
        "notifications": [],
        "conflicts": [],
        "incidents": [incident_id],
    }


def test_messages_cite_only_incidents_their_sender_may_see(scene: Scene) -> None:
    w = scene.world
    incident_id = scene.report()["id"]
    url = f"/v1/mechanisms/{w.mechanism_id}/messages"
    for sender, refs in ((w.aid, [incident_id]), (w.south, ["inc_doesnotexist"])):
        refused = w.client.post(
            url,
            json={
                "to": [w.north.id],
                "type": "text",
                "body": "?",
                "references": {"incidents": refs},
            },
            headers=sender.headers,
        )
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["references.incidents[0]"]
    # An incident of another mechanism is not citable here.
    elsewhere = w.new_mechanism()
    other = w.client.post(
        f"/v1/mechanisms/{elsewhere}/incidents",
        json=scene.body(notification_ids=[], conflict_ids=[], message_ids=[]),
        headers=w.south.headers,
    )
    assert other.status_code == 201, other.text
    foreign = w.client.post(
        url,
        json={
            "to": [w.north.id],
            "type": "text",
            "body": "?",
            "references": {"incidents": [other.json()["id"]]},
        },
        headers=w.south.headers,
    )
    assert foreign.status_code == 422
    # A message citing no incident keeps the references it always had.
    plain = scene.message(w.south, [w.north], "plain")
    assert plain["references"] == {"notifications": [], "conflicts": []}


# ---------------------------------------------------------------- the report bundle


def _history(scene: Scene) -> dict[str, Any]:
    """An incident with a life: acknowledgements, a delivery, a revision, an answer, a message
    between SOUTH and AID alone about the same conflict, a review and a finding."""
    w = scene.world
    incident_id = scene.report()["id"]
    w.clock.advance(minutes=1)
    assert w.client.post(
        f"/v1/conflicts/{scene.conflict_id}/acknowledge", headers=w.south.headers
    ).is_success
    assert w.client.get(f"/v1/messages/{scene.message_id}", headers=w.south.headers).is_success
    assert w.client.post(
        f"/v1/messages/{scene.message_id}/acknowledge", headers=w.south.headers
    ).is_success
    current = w.client.get(f"/v1/notifications/{scene.n1['id']}", headers=w.north.headers)
    revised = w.client.put(
        f"/v1/notifications/{scene.n1['id']}",
        json=simple(w.clock, circle(37.0, 36.5, 5_000), title=N1_TITLE + " (revised)"),
        headers={**w.north.headers, "If-Match": current.headers["etag"]},
    )
    assert revised.status_code == 200 and revised.json()["conflicts"], revised.text
    answer = scene.message(
        w.south, [w.north], "We saw it too.", references={"incidents": [incident_id]}
    )
    aside = scene.message(
        w.south,
        [w.aid],
        f"{MARKER}: about our conflict",
        references={"conflicts": [scene.conflict_id]},
    )
    w.clock.advance(minutes=5)
    assert _step(scene, w.operator, incident_id, "review").status_code == 200
    assert _step(scene, w.north.headers, incident_id, "close").status_code == 200
    [told] = announcements(w, w.south, incident_id)
    return {"id": incident_id, "answer": answer["id"], "aside": aside["id"], "told": told["id"]}


def _pairs(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["kind"], item["subject_id"]) for item in bundle["timeline"]]


def test_the_report_bundle_holds_all_the_caller_may_see_and_nothing_else(
    scene: Scene, ctx: Context
) -> None:
    w = scene.world
    h = _history(scene)
    incident_id, n1, conflict, message = (
        h["id"],
        scene.n1["id"],
        scene.conflict_id,
        scene.message_id,
    )
    common = {
        ("incident.reported", incident_id),
        ("incident.under_review", incident_id),
        ("incident.closed", incident_id),
        ("notification.revised", n1),
        ("conflict.detected", conflict),
        ("conflict.acknowledged", conflict),
        ("message.sent", message),
        ("message.delivered", message),
        ("message.acknowledged", message),
        ("message.sent", h["answer"]),
    }
    expected = {
        "NORTH": common | {("notification.created", n1)},
        "SOUTH": common | {("message.sent", h["told"]), ("message.sent", h["aside"])},
        "operator": common
        | {("notification.created", n1), ("message.sent", h["told"]), ("message.sent", h["aside"])},
    }
    viewers = {"NORTH": w.north, "SOUTH": w.south, "operator": None}
    bundles = {}
    for name, party in viewers.items():
        bundle = bundle_of(scene, w.operator if party is None else party.headers, incident_id)
        bundles[name] = bundle
        verify_bundle(bundle, public_key(ctx))
        assert bundle["incident"]["id"] == incident_id and bundle["incident"]["state"] == "closed"
        assert bundle["truncated"] is False
        assert bundle["key_rotations"] == [] and bundle["consistency"] == []
        pairs = set(_pairs(bundle))
        assert expected[name] <= pairs, expected[name] - pairs
        # Nothing the caller is not in the audience of.
        if party is not None:
            with ctx.store.read() as tx:
                for item in bundle["timeline"]:
                    assert party.id in tx.log_audience(item["leaf_index"]), item
    # The operator sees every entry either party sees.
    assert set(_pairs(bundles["NORTH"])) | set(_pairs(bundles["SOUTH"])) <= set(
        _pairs(bundles["operator"])
    )

    # NORTH never sees the message between SOUTH and AID, though it cites a linked conflict.
    north = json.dumps(bundles["NORTH"])
    assert MARKER not in north and h["aside"] not in north
    assert MARKER in json.dumps(bundles["operator"])
    # SOUTH sees N1 only as an overlap: the revision's entry, never its content.
    south = json.dumps(bundles["SOUTH"])
    assert N1_TITLE not in south
    [revision] = [i for i in bundles["SOUTH"]["timeline"] if i["kind"] == "notification.revised"]
    assert "content" not in revision

    # Contents are there for what the caller may see whole.
    def content(name: str, kind: str, subject: str) -> Any:
        [item] = [
            i for i in bundles[name]["timeline"] if (i["kind"], i["subject_id"]) == (kind, subject)
        ]
        return item.get("content")

    assert content("NORTH", "notification.created", n1)["title"] == N1_TITLE
    assert content("NORTH", "notification.revised", n1)["version"] == 2
    assert content("SOUTH", "message.sent", message)["body"] == "Convoy timing?"
    # The conflict's entry records the message announcing it to both parties: its content.
    detected = content("NORTH", "conflict.detected", conflict)
    assert detected["body"].startswith(f"Conflict {conflict} detected")
    assert content("SOUTH", "conflict.detected", conflict) == detected
    [item] = [i for i in bundles["SOUTH"]["timeline"] if i["kind"] == "conflict.detected"]
    assert item["summary"].endswith(f"told in message {detected['message_id']}")
    assert content("SOUTH", "incident.reported", incident_id)["kind"] == "near-miss"
    assert content("NORTH", "incident.closed", incident_id)["finding"].startswith("The helicopter")
    summaries = {i["summary"] for i in bundles["NORTH"]["timeline"]}
    assert f"incident {incident_id} (near-miss) reported by NORTH" in summaries
    assert f"incident {incident_id} taken under review by the operator" in summaries


def test_a_report_linking_a_conflicts_announcement_holds_the_conflicts_entry(
    scene: Scene, ctx: Context
) -> None:
    """The message that told both parties of a conflict has no entry of its own: the conflict's
    entry records it, and a report linking only that message holds the conflict's entry, with
    the message's content."""
    w = scene.world
    [told] = [
        m
        for m in listed(w, w.south, folder="inbox", limit="1000")
        if m["system"] and m["references"].get("conflicts") == [scene.conflict_id]
    ]
    incident_id = scene.report(notification_ids=[], conflict_ids=[], message_ids=[told["id"]])["id"]
    bundle = bundle_of(scene, w.south.headers, incident_id)
    verify_bundle(bundle, public_key(ctx))
    [item] = [i for i in bundle["timeline"] if i["kind"] == "conflict.detected"]
    assert item["subject_id"] == scene.conflict_id
    assert item["content"]["message_id"] == told["id"]
    assert item["content"]["body"] == told["body"]


def test_the_report_page_escapes_what_parties_wrote(scene: Scene, ctx: Context) -> None:
    w = scene.world
    hostile = '<script>alert("incident")</script><img src=x onerror=alert(1)>'
    linked = scene.message(w.north, [w.south], f"body {hostile}")
    incident_id = scene.report(description=f"description {hostile}", message_ids=[linked["id"]])[
        "id"
    ]
    bundle = bundle_of(scene, w.south.headers, incident_id)
    verify_bundle(bundle, public_key(ctx))
    page = render(bundle, f"incident-{incident_id}.json")
    assert "<script" not in page.lower() and "<img" not in page.lower()
    # Shown escaped: the description, the report's content and the message's body.
    assert page.count("&lt;script&gt;alert(&quot;incident&quot;)&lt;/script&gt;") == 3
    # Self-contained: no tag fetches anything.
    assert not re.search(r"<[a-z]+[^>]*\s(src|href)\s*=", page, re.IGNORECASE)
    assert f"incident-{incident_id}.json" in page
    for item in bundle["timeline"]:
        assert str(item["leaf_index"]) in page
    assert "UTC" in page


def test_a_bundle_made_after_a_key_rotation_verifies_with_the_first_key_alone(
    scene: Scene,
) -> None:
    w = scene.world
    first_key = base64.b64decode(
        w.client.get("/v1/log/head", headers=w.north.headers).json()["public_key"]
    )
    view = scene.report()
    assert w.client.post("/v1/log/keys/rotate", headers=w.operator).status_code == 200
    w.client.post(f"/v1/incidents/{view['id']}/review", headers=w.south.headers)
    bundle = bundle_of(scene, w.north.headers, view["id"])
    assert len(bundle["key_rotations"]) == 1
    result = receipts.verify(receipts.parse(bundle), [first_key])
    assert result.ok, [c.message for c in result.failures()]
    alone = receipts.verify(receipts.parse({**bundle, "key_rotations": []}), [first_key])
    assert not alone.ok  # without the announcement the new key is not trusted
