"""Every endpoint for every caller; need-to-know, idempotency, revisions, GeoJSON, bad input.

The callers: no token, a revoked token, a party outside the mechanism (OUTSIDER), a member with
no conflict (AID), a member whose notification conflicts (SOUTH), the operator, and the owner
(NORTH). `test_every_route_is_in_the_matrix` fails when a route is added without a row here.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from backends import Database
from pyproj import Geod
from shapely.geometry import shape

from .conftest import (
    GEOJSON,
    PROBLEM,
    World,
    altitude,
    at,
    check_response,
    circle,
    corridor,
    forbidden_words,
    notification,
    polygon,
    simple,
    spoken,
    square,
    volume,
)

N1_TITLE = "Operation GRANITE north sector"
N1_REFERENCE = "ORD-N-0001"
S1_TITLE = "Convoy BLUE resupply"
S1_REFERENCE = "ORD-S-0042"
GEOD = Geod(ellps="WGS84")
_serial = itertools.count(1)


# ---------------------------------------------------------------- the scene


@dataclass
class Scene:
    """NORTH's N1 and SOUTH's S1 conflict; AID's A1 is far from both."""

    world: World
    n1: dict[str, Any]
    n1_body: dict[str, Any]
    s1: dict[str, Any]
    a1: dict[str, Any]
    conflict_id: str
    revoked: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        w = self.world
        return {
            "anonymous": {},
            "revoked": self.revoked,
            "outsider": w.outsider.headers,
            "bystander": w.aid.headers,
            "member": w.south.headers,
            "operator": w.operator,
            "owner": w.north.headers,
        }[role]


def make_scene(world: World) -> Scene:
    clock = world.clock
    n1_body = notification(
        volume(
            circle(37.0, 36.5, 5_000), at(clock, hours=2), at(clock, hours=14), altitude(0, 10_000)
        ),
        title=N1_TITLE,
        reference=N1_REFERENCE,
    )
    n1 = world.notify(world.north, n1_body)
    assert n1["conflicts"] == []
    s1 = world.notify(
        world.south,
        notification(
            volume(
                circle(37.06, 36.5, 2_000),
                at(clock, hours=4),
                at(clock, hours=5),
                altitude(1_000, 2_000),
            ),
            kind="ground",
            title=S1_TITLE,
            reference=S1_REFERENCE,
        ),
    )
    assert len(s1["conflicts"]) == 1
    a1 = world.notify(
        world.aid, simple(clock, circle(38.5, 36.5), kind="site", title="AID field hospital")
    )
    assert a1["conflicts"] == []
    token, token_id = world.new_token(world.north.id)
    revoked = world.client.delete(f"/v1/tokens/{token_id}", headers=world.operator)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    return Scene(
        world, n1, n1_body, s1, a1, s1["conflicts"][0]["id"], {"Authorization": f"Bearer {token}"}
    )


@pytest.fixture
def scene(world: World) -> Scene:
    return make_scene(world)


# ---------------------------------------------------------------- the endpoint matrix

ROLES = ("anonymous", "revoked", "outsider", "bystander", "member", "operator", "owner")
PARTY_ROLES = ("outsider", "bystander", "member", "owner")


@dataclass
class Call:
    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Check = Callable[[Scene, str, Any], None]


@dataclass
class Endpoint:
    make: Callable[[Scene], Call]
    expect: tuple[int, ...]  # one status per role, in ROLES order
    check: Check | None = None


def _ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


def _check_me(s: Scene, role: str, body: Any) -> None:
    if role == "operator":
        assert body["role"] == "operator" and body["party"] is None
    else:
        code = {"outsider": "OUTSIDER", "bystander": "AID", "member": "SOUTH", "owner": "NORTH"}[
            role
        ]
        assert body["role"] == "party" and body["party"]["code"] == code


def _check_mechanisms(s: Scene, role: str, body: Any) -> None:
    assert (s.world.mechanism_id in _ids(body)) == (role != "outsider")


def _check_members(s: Scene, role: str, body: Any) -> None:
    assert {p["code"] for p in body} == {"NORTH", "SOUTH", "AID"}


def _check_new_token(s: Scene, role: str, body: Any) -> None:
    assert body["token"].startswith("dcf_") and body["party_id"] == s.world.north.id


def _check_token_list(s: Scene, role: str, body: Any) -> None:
    assert body and all("token" not in t and "token_hash" not in t for t in body)
    assert all(t["party_id"] == s.world.north.id for t in body)
    assert any(t["revoked_at"] for t in body)  # the scene's revoked token is listed as such


def _check_revoked(s: Scene, role: str, body: Any) -> None:
    assert body["revoked_at"] is not None


def _check_notification_list(s: Scene, role: str, body: Any) -> None:
    seen = {v["id"]: v["disclosure"] for v in body}
    n1, s1, a1 = s.n1["id"], s.s1["id"], s.a1["id"]
    expected = {
        "owner": {n1: "whole", s1: "overlap"},
        "member": {s1: "whole", n1: "overlap"},
        "bystander": {a1: "whole"},
        "operator": {n1: "whole", s1: "whole", a1: "whole"},
    }[role]
    assert seen == expected


def _check_notification(s: Scene, role: str, body: Any) -> None:
    assert body["id"] == s.n1["id"]
    assert body["disclosure"] == ("overlap" if role == "member" else "whole")


def _check_revised(s: Scene, role: str, body: Any) -> None:
    assert body["version"] == 2 and body["title"] == "revised"


def _check_cancelled(s: Scene, role: str, body: Any) -> None:
    assert body["state"] == "cancelled" and body["cancel_reason"] == "plan changed"


def _check_revisions(s: Scene, role: str, body: Any) -> None:
    assert [r["version"] for r in body] == [1] and body[0]["title"] == N1_TITLE


def _check_ack(s: Scene, role: str, body: Any) -> None:
    assert body["meaning"] == "received and read"


def _check_conflict_list(s: Scene, role: str, body: Any) -> None:
    assert _ids(body) == (set() if role in ("outsider", "bystander") else {s.conflict_id})


def _check_conflict(s: Scene, role: str, body: Any) -> None:
    assert body["id"] == s.conflict_id and body["state"] == "open"


def _fresh_party_member(s: Scene) -> Call:
    party = s.world.new_party()
    return Call(f"/v1/mechanisms/{s.world.mechanism_id}/members", {"party_id": party.id})


def _fresh_token(s: Scene) -> Call:
    _, token_id = s.world.new_token(s.world.north.id)
    return Call(f"/v1/tokens/{token_id}")


def _revision(s: Scene) -> Call:
    current = s.world.client.get(f"/v1/notifications/{s.n1['id']}", headers=s.world.operator)
    return Call(
        f"/v1/notifications/{s.n1['id']}",
        {**s.n1_body, "title": "revised"},
        {"If-Match": current.headers["etag"]},
    )


def _far_notification(s: Scene) -> Call:
    lon = 30.0 + (next(_serial) % 100) * 0.2
    return Call(s.world.notifications_url(), simple(s.world.clock, circle(lon, 33.0)))


MATRIX: dict[tuple[str, str], Endpoint] = {
    ("GET", "/healthz"): Endpoint(lambda s: Call("/healthz"), (200,) * 7),
    ("GET", "/readyz"): Endpoint(lambda s: Call("/readyz"), (200,) * 7),
    ("GET", "/v1/me"): Endpoint(
        lambda s: Call("/v1/me"), (401, 401, 200, 200, 200, 200, 200), _check_me
    ),
    ("POST", "/v1/mechanisms"): Endpoint(
        lambda s: Call("/v1/mechanisms", {"name": "another line"}),
        (401, 401, 403, 403, 403, 201, 403),
    ),
    ("GET", "/v1/mechanisms"): Endpoint(
        lambda s: Call("/v1/mechanisms"), (401, 401, 200, 200, 200, 200, 200), _check_mechanisms
    ),
    ("GET", "/v1/mechanisms/{mechanism_id}"): Endpoint(
        lambda s: Call(f"/v1/mechanisms/{s.world.mechanism_id}"),
        (401, 401, 404, 200, 200, 200, 200),
    ),
    ("POST", "/v1/mechanisms/{mechanism_id}/members"): Endpoint(
        _fresh_party_member, (401, 401, 403, 403, 403, 201, 403)
    ),
    ("GET", "/v1/mechanisms/{mechanism_id}/members"): Endpoint(
        lambda s: Call(f"/v1/mechanisms/{s.world.mechanism_id}/members"),
        (401, 401, 404, 200, 200, 200, 200),
        _check_members,
    ),
    ("POST", "/v1/parties"): Endpoint(
        lambda s: Call("/v1/parties", {"name": "new party", "code": f"NEW{next(_serial)}"}),
        (401, 401, 403, 403, 403, 201, 403),
    ),
    ("GET", "/v1/parties"): Endpoint(
        lambda s: Call("/v1/parties"), (401, 401, 403, 403, 403, 200, 403)
    ),
    ("POST", "/v1/parties/{party_id}/tokens"): Endpoint(
        lambda s: Call(f"/v1/parties/{s.world.north.id}/tokens", {"label": "night desk"}),
        (401, 401, 403, 403, 403, 201, 403),
        _check_new_token,
    ),
    ("GET", "/v1/parties/{party_id}/tokens"): Endpoint(
        lambda s: Call(f"/v1/parties/{s.world.north.id}/tokens"),
        (401, 401, 404, 404, 404, 200, 200),
        _check_token_list,
    ),
    ("DELETE", "/v1/tokens/{token_id}"): Endpoint(
        _fresh_token, (401, 401, 404, 404, 404, 200, 200), _check_revoked
    ),
    ("POST", "/v1/mechanisms/{mechanism_id}/notifications"): Endpoint(
        _far_notification, (401, 401, 404, 201, 201, 403, 201)
    ),
    ("GET", "/v1/mechanisms/{mechanism_id}/notifications"): Endpoint(
        lambda s: Call(s.world.notifications_url()),
        (401, 401, 404, 200, 200, 200, 200),
        _check_notification_list,
    ),
    ("GET", "/v1/notifications/{notification_id}"): Endpoint(
        lambda s: Call(f"/v1/notifications/{s.n1['id']}"),
        (401, 401, 404, 404, 200, 200, 200),
        _check_notification,
    ),
    ("PUT", "/v1/notifications/{notification_id}"): Endpoint(
        _revision, (401, 401, 404, 404, 404, 403, 200), _check_revised
    ),
    ("POST", "/v1/notifications/{notification_id}/cancel"): Endpoint(
        lambda s: Call(f"/v1/notifications/{s.n1['id']}/cancel", {"reason": "plan changed"}),
        (401, 401, 404, 404, 404, 403, 200),
        _check_cancelled,
    ),
    ("GET", "/v1/notifications/{notification_id}/revisions"): Endpoint(
        lambda s: Call(f"/v1/notifications/{s.n1['id']}/revisions"),
        (401, 401, 404, 404, 404, 200, 200),
        _check_revisions,
    ),
    ("POST", "/v1/notifications/{notification_id}/acknowledge"): Endpoint(
        lambda s: Call(f"/v1/notifications/{s.n1['id']}/acknowledge"),
        (401, 401, 404, 404, 200, 403, 409),
        _check_ack,
    ),
    ("GET", "/v1/conflicts"): Endpoint(
        lambda s: Call("/v1/conflicts"), (401, 401, 200, 200, 200, 200, 200), _check_conflict_list
    ),
    ("GET", "/v1/conflicts/{conflict_id}"): Endpoint(
        lambda s: Call(f"/v1/conflicts/{s.conflict_id}"),
        (401, 401, 404, 404, 200, 200, 200),
        _check_conflict,
    ),
    ("POST", "/v1/conflicts/{conflict_id}/acknowledge"): Endpoint(
        lambda s: Call(f"/v1/conflicts/{s.conflict_id}/acknowledge"),
        (401, 401, 404, 404, 200, 403, 200),
        _check_ack,
    ),
}


# ---------------------------------------------------------------- the line's rows


def _north_message(s: Scene) -> str:
    """A message from NORTH (owner) to SOUTH (member); AID is a bystander."""
    w = s.world
    sent = w.client.post(
        f"/v1/mechanisms/{w.mechanism_id}/messages",
        json={"to": [w.south.id], "type": "query", "body": "Convoy timing?"},
        headers=w.north.headers,
    )
    assert sent.status_code == 201, sent.text
    message_id: str = sent.json()["id"]
    return message_id


def _check_message(s: Scene, role: str, body: Any) -> None:
    assert body["body"] == "Convoy timing?" and body["from"] == s.world.north.id
    assert ("recipients" in body) == (role in ("owner", "operator"))
    assert ("own_status" in body) == (role == "member")


def _check_message_list(s: Scene, role: str, body: Any) -> None:
    w = s.world
    for message in body:
        assert role == "operator" or w.parties[
            {"outsider": "OUTSIDER", "bystander": "AID", "member": "SOUTH", "owner": "NORTH"}[role]
        ].id in [message["from"], *message["to"]]
    system = [m for m in body if m["system"]]
    assert bool(system) == (role in ("owner", "member", "operator"))  # the conflict's notice


def _check_inbox(s: Scene, role: str, body: Any) -> None:
    conflicts = {i["subject_id"] for i in body if i["subject_type"] == "conflict"}
    assert (s.conflict_id in conflicts) == (role in ("owner", "member", "operator"))


def _check_status(s: Scene, role: str, body: Any) -> None:
    assert {m["party"]["code"] for m in body["members"]} == {"NORTH", "SOUTH", "AID"}


def _escalation_body(s: Scene) -> dict[str, Any]:
    return {"token_id": s.world.north.token_id}


def _set_escalation(s: Scene) -> Call:
    w = s.world
    put = w.client.put(
        f"/v1/mechanisms/{w.mechanism_id}/escalation",
        json=_escalation_body(s),
        headers=w.north.headers,
    )
    assert put.status_code == 200, put.text
    return Call(f"/v1/mechanisms/{w.mechanism_id}/escalation")


PUBLIC_KEY = "98iwktEjhOUFsq01uQjsZeqB2P9PDAw/+MsM43Y2nZs="


def _north_key(s: Scene) -> Call:
    put = s.world.client.put(
        "/v1/keys/me", json={"public_key": PUBLIC_KEY}, headers=s.world.north.headers
    )
    assert put.status_code == 200, put.text
    return Call(f"/v1/parties/{s.world.north.id}/key")


LINE_MATRIX: dict[tuple[str, str], Endpoint] = {
    ("POST", "/v1/mechanisms/{mechanism_id}/messages"): Endpoint(
        lambda s: Call(
            f"/v1/mechanisms/{s.world.mechanism_id}/messages",
            {"to": [s.world.aid.id], "type": "text", "body": "hello"},
        ),
        (401, 401, 404, 422, 201, 403, 201),
    ),
    ("GET", "/v1/messages"): Endpoint(
        lambda s: Call("/v1/messages"), (401, 401, 200, 200, 200, 200, 200), _check_message_list
    ),
    ("GET", "/v1/messages/{message_id}"): Endpoint(
        lambda s: Call(f"/v1/messages/{_north_message(s)}"),
        (401, 401, 404, 404, 200, 200, 200),
        _check_message,
    ),
    ("POST", "/v1/messages/{message_id}/acknowledge"): Endpoint(
        lambda s: Call(f"/v1/messages/{_north_message(s)}/acknowledge"),
        (401, 401, 404, 404, 200, 403, 409),
        _check_ack,
    ),
    ("GET", "/v1/inbox"): Endpoint(
        lambda s: Call("/v1/inbox"), (401, 401, 200, 200, 200, 200, 200), _check_inbox
    ),
    ("GET", "/v1/mechanisms/{mechanism_id}/status"): Endpoint(
        lambda s: Call(f"/v1/mechanisms/{s.world.mechanism_id}/status"),
        (401, 401, 404, 200, 200, 200, 200),
        _check_status,
    ),
    ("GET", "/v1/mechanisms/{mechanism_id}/escalation"): Endpoint(
        _set_escalation, (401, 401, 404, 404, 404, 403, 200)
    ),
    ("PUT", "/v1/mechanisms/{mechanism_id}/escalation"): Endpoint(
        lambda s: Call(f"/v1/mechanisms/{s.world.mechanism_id}/escalation", _escalation_body(s)),
        (401, 401, 404, 422, 422, 403, 200),
    ),
    ("PUT", "/v1/keys/me"): Endpoint(
        lambda s: Call("/v1/keys/me", {"public_key": PUBLIC_KEY}),
        (401, 401, 200, 200, 200, 403, 200),
    ),
    ("GET", "/v1/parties/{party_id}/key"): Endpoint(
        _north_key, (401, 401, 404, 200, 200, 200, 200)
    ),
}
MATRIX.update(LINE_MATRIX)


def _fresh_webhook(s: Scene) -> Call:
    """An escalation-only webhook of NORTH (never called, so no network)."""
    hook = s.world.client.post(
        "/v1/webhooks",
        json={"url": "https://93.184.215.14/hook", "purpose": "escalation"},
        headers=s.world.north.headers,
    )
    assert hook.status_code == 201, hook.text
    return Call(f"/v1/webhooks/{hook.json()['id']}")


def _check_webhook(s: Scene, role: str, body: Any) -> None:
    assert body["party_id"] == s.world.north.id and "secret" not in body


def _check_events(s: Scene, role: str, body: Any) -> None:
    subjects = {e["subject_id"] for e in body["events"]}
    assert body["last_event_id"] == (body["events"][-1]["id"] if body["events"] else 0)
    if role == "outsider":
        assert body["events"] == []
    elif role == "bystander":
        assert subjects and not subjects & {s.n1["id"], s.s1["id"], s.conflict_id}
    else:
        assert s.conflict_id in subjects


DELIVERY_MATRIX: dict[tuple[str, str], Endpoint] = {
    ("POST", "/v1/webhooks"): Endpoint(
        lambda s: Call("/v1/webhooks", {"url": "https://93.184.215.14/h", "purpose": "escalation"}),
        (401, 401, 201, 201, 201, 403, 201),
    ),
    ("GET", "/v1/webhooks"): Endpoint(
        lambda s: Call("/v1/webhooks"), (401, 401, 200, 200, 200, 200, 200)
    ),
    ("GET", "/v1/webhooks/{webhook_id}"): Endpoint(
        _fresh_webhook, (401, 401, 404, 404, 404, 200, 200), _check_webhook
    ),
    ("DELETE", "/v1/webhooks/{webhook_id}"): Endpoint(
        _fresh_webhook, (401, 401, 404, 404, 404, 200, 200), _check_webhook
    ),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): Endpoint(
        lambda s: Call(_fresh_webhook(s).path + "/deliveries"), (401, 401, 404, 404, 404, 200, 200)
    ),
    ("GET", "/v1/events"): Endpoint(
        lambda s: Call("/v1/events?after=0", headers={"Accept": "application/json"}),
        (401, 401, 200, 200, 200, 200, 200),
        _check_events,
    ),
}
MATRIX.update(DELIVERY_MATRIX)


def _incident_url(s: Scene) -> str:
    return f"/v1/mechanisms/{s.world.mechanism_id}/incidents"


def _incident_body(s: Scene) -> dict[str, Any]:
    """A near miss linked to the conflict: it involves NORTH (owner) and SOUTH (member)."""
    return {
        "kind": "near-miss",
        "occurred_at": at(s.world.clock, minutes=-10),
        "place": circle(37.03, 36.5, 1_000),
        "description": "A helicopter passed close to the convoy.",
        "conflict_ids": [s.conflict_id],
    }


def _north_incident(s: Scene, then: str = "") -> str:
    """A fresh incident reported by NORTH (and taken under review by the operator, if `then`)."""
    w = s.world
    reported = w.client.post(_incident_url(s), json=_incident_body(s), headers=w.north.headers)
    assert reported.status_code == 201, reported.text
    incident_id: str = reported.json()["id"]
    if then == "review":
        reviewed = w.client.post(f"/v1/incidents/{incident_id}/review", headers=w.operator)
        assert reviewed.status_code == 200, reviewed.text
    return incident_id


def _check_incident(s: Scene, role: str, body: Any) -> None:
    assert {p["code"] for p in body["involved_parties"]} == {"NORTH", "SOUTH"}


def _check_reviewed(s: Scene, role: str, body: Any) -> None:
    _check_incident(s, role, body)
    assert body["state"] == "under_review" and body["receipt"]


def _check_closed(s: Scene, role: str, body: Any) -> None:
    _check_incident(s, role, body)
    assert body["state"] == "closed" and body["finding"] == "strayed 400 m"


def _check_report(s: Scene, role: str, body: Any) -> None:
    _check_incident(s, role, body["incident"])
    assert body["format"] == "deconfliction-receipts/v1" and body["receipts"]


def _listed_incidents(s: Scene) -> Call:
    _north_incident(s)
    return Call(_incident_url(s))


def _check_incident_list(s: Scene, role: str, body: Any) -> None:
    assert bool(body) == (role != "bystander")  # AID is involved in none of them


INCIDENT_MATRIX: dict[tuple[str, str], Endpoint] = {
    ("POST", "/v1/mechanisms/{mechanism_id}/incidents"): Endpoint(
        lambda s: Call(_incident_url(s), _incident_body(s)),
        (401, 401, 404, 422, 201, 403, 201),
        _check_incident,
    ),
    ("GET", "/v1/mechanisms/{mechanism_id}/incidents"): Endpoint(
        _listed_incidents,
        (401, 401, 404, 200, 200, 200, 200),
        _check_incident_list,
    ),
    ("GET", "/v1/incidents/{incident_id}"): Endpoint(
        lambda s: Call(f"/v1/incidents/{_north_incident(s)}"),
        (401, 401, 404, 404, 200, 200, 200),
        _check_incident,
    ),
    ("POST", "/v1/incidents/{incident_id}/review"): Endpoint(
        lambda s: Call(f"/v1/incidents/{_north_incident(s)}/review"),
        (401, 401, 404, 404, 200, 200, 200),
        _check_reviewed,
    ),
    ("POST", "/v1/incidents/{incident_id}/close"): Endpoint(
        lambda s: Call(
            f"/v1/incidents/{_north_incident(s, 'review')}/close", {"finding": "strayed 400 m"}
        ),
        (401, 401, 404, 404, 403, 200, 200),
        _check_closed,
    ),
    ("GET", "/v1/incidents/{incident_id}/report"): Endpoint(
        lambda s: Call(f"/v1/incidents/{_north_incident(s)}/report"),
        (401, 401, 404, 404, 200, 200, 200),
        _check_report,
    ),
}
MATRIX.update(INCIDENT_MATRIX)


def _n1_entry(s: Scene) -> Call:
    return Call(f"/v1/receipts/{s.n1['receipt']['leaf_index']}")


def _check_receipt(s: Scene, role: str, body: Any) -> None:
    assert body["leaf_index"] == s.n1["receipt"]["leaf_index"]
    assert body["entry"]["subject_id"] == s.n1["id"]


def _check_receipts(s: Scene, role: str, body: Any) -> None:
    subjects = {r["entry"]["subject_id"] for r in body["receipts"]}
    # N1's creation is shown to its owner (need-to-know) and the operator, to nobody else.
    assert (s.n1["id"] in subjects) == (role in ("owner", "operator")), role


def _check_head(s: Scene, role: str, body: Any) -> None:
    assert body["tree_head"]["tree_size"] > s.n1["receipt"]["leaf_index"]
    assert body["public_key"] and body["keys"][0]["key_id"] == body["key_id"]


PROOF_MATRIX: dict[tuple[str, str], Endpoint] = {
    ("GET", "/v1/log/head"): Endpoint(
        lambda s: Call("/v1/log/head"), (401, 401, 200, 200, 200, 200, 200), _check_head
    ),
    ("POST", "/v1/log/head"): Endpoint(
        lambda s: Call("/v1/log/head"), (401, 401, 200, 200, 200, 200, 200), _check_head
    ),
    ("GET", "/v1/log/consistency"): Endpoint(
        lambda s: Call("/v1/log/consistency?first=1&second=2"),
        (401, 401, 200, 200, 200, 200, 200),
    ),
    ("GET", "/v1/receipts/{index}"): Endpoint(
        _n1_entry, (401, 401, 404, 404, 404, 200, 200), _check_receipt
    ),
    ("GET", "/v1/receipts"): Endpoint(
        lambda s: Call("/v1/receipts?limit=100"),
        (401, 401, 200, 200, 200, 200, 200),
        _check_receipts,
    ),
    ("POST", "/v1/log/keys/rotate"): Endpoint(
        lambda s: Call("/v1/log/keys/rotate"), (401, 401, 403, 403, 403, 200, 403)
    ),
}
MATRIX.update(PROOF_MATRIX)

PROBLEM_CODES = {
    401: "unauthenticated",
    403: "permission-denied",
    404: "not-found",
    409: "state-conflict",
}


# Every write answers with the receipt of its log entry; signing a head changes no state.
WRITES_WITHOUT_RECEIPT = {("POST", "/v1/log/head")}


def test_every_route_is_in_the_matrix(app: Any) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert routes - set(MATRIX) == set(), "routes without a row in MATRIX"
    assert set(MATRIX) - routes == set(), "MATRIX rows for routes that do not exist"


@pytest.mark.parametrize("route", list(MATRIX), ids=[f"{m} {p}" for m, p in MATRIX])
def test_endpoint_for_every_caller(scene: Scene, route: tuple[str, str]) -> None:
    method, _ = route
    endpoint = MATRIX[route]
    assert len(endpoint.expect) == len(ROLES)
    for role, expected in zip(ROLES, endpoint.expect, strict=True):
        call = endpoint.make(scene)
        response = scene.world.client.request(
            method, call.path, json=call.json, headers={**scene.headers(role), **call.headers}
        )
        assert response.status_code == expected, (role, response.text)
        if expected in PROBLEM_CODES:
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.json()["code"] == PROBLEM_CODES[expected], (role, response.text)
        if expected == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        if expected < 300 and endpoint.check and role not in ("anonymous", "revoked"):
            endpoint.check(scene, role, response.json())
        if expected < 300 and method != "GET" and route not in WRITES_WITHOUT_RECEIPT:
            assert "leaf_index" in response.json()["receipt"], (route, role)


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer dcf_not-a-real-token",
        "Bearer " + "x" * 300,
        "bearer-without-scheme",
    ],
)
def test_anything_but_a_valid_token_is_401(world: World, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = world.client.get(world.notifications_url(), headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoking_a_token_locks_it_out_at_once(world: World) -> None:
    token, token_id = world.new_token(world.south.id)
    headers = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/v1/me", headers=headers).status_code == 200
    # A party may revoke its own party's token.
    revoked = world.client.delete(f"/v1/tokens/{token_id}", headers=world.south.headers)
    assert revoked.status_code == 200
    assert world.client.get("/v1/me", headers=headers).status_code == 401
    assert world.client.get("/v1/me", headers=world.south.headers).status_code == 200


def test_the_last_operator_token_cannot_be_revoked(world: World) -> None:
    me = world.client.get("/v1/me", headers=world.operator).json()
    response = world.client.delete(f"/v1/tokens/{me['token_id']}", headers=world.operator)
    assert response.status_code == 409
    assert world.client.get("/v1/me", headers=world.operator).status_code == 200


def test_what_may_not_be_seen_is_404_exactly_as_if_it_did_not_exist(scene: Scene) -> None:
    """Neither an outsider nor a member without a conflict can tell a hidden thing from none.

    Each request for something hidden is compared with the same request for an id that does
    not exist: same status, and the same problem document once the id is swapped.
    """
    w, n1 = scene.world, scene.n1["id"]
    mec, ntf, cfl = w.mechanism_id, "ntf_0000000000000000", "cfl_0000000000000000"
    missing_mec = "mec_0000000000000000"
    requests = [  # (method, path with the real id, the id, json)
        ("GET", f"/v1/mechanisms/{mec}", mec, None),
        ("GET", f"/v1/mechanisms/{mec}/members", mec, None),
        ("GET", f"/v1/mechanisms/{mec}/notifications", mec, None),
        ("POST", f"/v1/mechanisms/{mec}/notifications", mec, simple(w.clock, circle(37, 36.5))),
        ("GET", f"/v1/notifications/{n1}", n1, None),
        ("GET", f"/v1/notifications/{n1}/revisions", n1, None),
        ("POST", f"/v1/notifications/{n1}/acknowledge", n1, None),
        ("POST", f"/v1/notifications/{n1}/cancel", n1, None),
        ("GET", f"/v1/conflicts/{scene.conflict_id}", scene.conflict_id, None),
        ("POST", f"/v1/conflicts/{scene.conflict_id}/acknowledge", scene.conflict_id, None),
    ]
    leaks = []
    for party in (w.outsider, w.aid):
        for method, path, real_id, body in requests:
            if party is w.aid and real_id == mec:
                continue  # AID is a member of the mechanism itself
            fake = {"mec": missing_mec, "ntf": ntf, "cfl": cfl}[real_id[:3]]
            seen = w.client.request(method, path, json=body, headers=party.headers)
            absent = w.client.request(
                method, path.replace(real_id, fake), json=body, headers=party.headers
            )
            assert absent.status_code == 404, (method, path, absent.text)
            masked = json.loads(seen.text.replace(real_id, fake))
            if seen.status_code != 404 or masked != absent.json():
                leaks.append((party.code, method, path, seen.json().get("detail")))
    assert not leaks, "hidden things told apart from missing ones:\n" + "\n".join(map(str, leaks))
    listed = w.client.get("/v1/conflicts", params={"mechanism": mec}, headers=w.outsider.headers)
    assert listed.status_code == 200 and listed.json() == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/mechanisms/mec_%00",
        "/v1/mechanisms/mec_%00/notifications",
        "/v1/notifications/ntf_%00x",
        "/v1/conflicts/cfl_%00",
        "/v1/messages/msg_%00",
        "/v1/incidents/inc_%00",
    ],
)
def test_an_id_with_a_nul_character_is_not_found_on_every_backend(world: World, path: str) -> None:
    """PostgreSQL text cannot hold NUL: such an id is simply not there, as on SQLite."""
    response = world.client.get(path, headers=world.north.headers)
    assert response.status_code == 404, response.text


# ---------------------------------------------------------------- need-to-know


def _area_m2(geometry: dict[str, Any]) -> float:
    return abs(GEOD.geometry_area_perimeter(shape(geometry))[0])


def test_other_member_sees_only_the_overlap(scene: Scene) -> None:
    w, n1_id = scene.world, scene.n1["id"]
    texts = []

    def get(path: str, **kw: Any) -> Any:
        response = w.client.get(path, headers={**w.south.headers, **kw.pop("headers", {})}, **kw)
        assert response.status_code == 200, response.text
        texts.append(response.text)
        return response.json()

    view = get(f"/v1/notifications/{n1_id}")
    assert view["disclosure"] == "overlap"
    for secret in ("title", "reference", "volumes", "kind", "start", "end", "late"):
        assert secret not in view
    assert view["party"]["code"] == "NORTH"
    listed = {v["id"]: v for v in get(w.notifications_url())}
    assert listed[n1_id]["disclosure"] == "overlap"
    assert {"title", "reference", "volumes"}.isdisjoint(listed[n1_id])
    conflict = get(f"/v1/conflicts/{scene.conflict_id}")
    get("/v1/conflicts")
    get(f"/v1/notifications/{n1_id}", headers={"Accept": GEOJSON})
    get(f"/v1/conflicts/{scene.conflict_id}", headers={"Accept": GEOJSON})
    get(w.notifications_url(), headers={"Accept": GEOJSON})
    for text in texts:
        assert N1_TITLE not in text and N1_REFERENCE not in text

    # What SOUTH sees of N1 is cut to its own need: N1 runs 2–14 h at 0–10,000 m over a
    # 5 km circle; S1 runs 4–5 h at 1,000–2,000 m, so SOUTH sees N1 within the minima of S1.
    assert conflict["other_party"]["code"] == "NORTH"
    assert conflict["own_notification"] == scene.s1["id"]
    assert conflict["other_notification"] == n1_id
    [overlap] = conflict["overlaps"]
    other = overlap["other"]
    assert other["start"] == at(w.clock, hours=3, minutes=45)
    assert other["end"] == at(w.clock, hours=5, minutes=15)
    assert other["altitude"]["lower"] == 700 and other["altitude"]["upper"] == 2_300
    whole_n1 = math.pi * 5_000**2
    reach_of_s1 = math.pi * (2_000 + 1_000) ** 2
    assert 0 < _area_m2(other["area"]) <= reach_of_s1 * 1.01 < whole_n1
    assert "volume" not in other


def test_member_without_a_conflict_sees_nothing_of_the_others(scene: Scene) -> None:
    w = scene.world
    for nid in (scene.n1["id"], scene.s1["id"]):
        for path in (f"/v1/notifications/{nid}", f"/v1/notifications/{nid}/revisions"):
            assert w.client.get(path, headers=w.aid.headers).status_code == 404
        ack = w.client.post(f"/v1/notifications/{nid}/acknowledge", headers=w.aid.headers)
        assert ack.status_code == 404
    listed = w.client.get(w.notifications_url(), headers=w.aid.headers).json()
    assert _ids(listed) == {scene.a1["id"]}
    assert w.client.get("/v1/conflicts", headers=w.aid.headers).json() == []
    collection = w.client.get(
        w.notifications_url(), headers={**w.aid.headers, "Accept": GEOJSON}
    ).json()
    assert {f["properties"]["notification_id"] for f in collection["features"]} == {scene.a1["id"]}


def test_full_disclosure_members_see_everything_whole(world: World) -> None:
    mechanism_id = world.new_mechanism({"disclosure": "full"})
    north = world.notify(
        world.north,
        simple(world.clock, circle(37.0, 36.5), title=N1_TITLE, reference=N1_REFERENCE),
        mechanism_id,
    )
    for party in (world.aid, world.south):
        view = world.client.get(f"/v1/notifications/{north['id']}", headers=party.headers)
        assert view.status_code == 200
        body = view.json()
        assert body["disclosure"] == "whole"
        assert body["title"] == N1_TITLE and body["reference"] == N1_REFERENCE
        assert body["volumes"][0]["area"] == circle(37.0, 36.5)
        listed = world.client.get(world.notifications_url(mechanism_id), headers=party.headers)
        assert [v["title"] for v in listed.json()] == [N1_TITLE]
        revisions = world.client.get(
            f"/v1/notifications/{north['id']}/revisions", headers=party.headers
        )
        assert revisions.status_code == 200 and revisions.json()[0]["title"] == N1_TITLE
    ack = world.client.post(
        f"/v1/notifications/{north['id']}/acknowledge", headers=world.aid.headers
    )
    assert ack.status_code == 200 and ack.json()["meaning"] == "received and read"
    outsider = world.client.get(f"/v1/notifications/{north['id']}", headers=world.outsider.headers)
    assert outsider.status_code == 404
    # The same parties under the default policy still see nothing of each other.
    hidden = world.notify(world.north, simple(world.clock, circle(37.0, 36.5)))
    assert (
        world.client.get(f"/v1/notifications/{hidden['id']}", headers=world.aid.headers).status_code
        == 404
    )


# ---------------------------------------------------------------- idempotency


def _count(db: Database, table: str) -> int:
    return int(db.rows(f"SELECT count(*) FROM {table}")[0][0])


def test_idempotency_key_replay_returns_the_same_notification(world: World) -> None:
    body = simple(world.clock, circle(37.0, 36.5))
    headers = {**world.north.headers, "Idempotency-Key": "order-17/attempt"}
    first = world.client.post(world.notifications_url(), json=body, headers=headers)
    world.clock.advance(minutes=5)
    again = world.client.post(world.notifications_url(), json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert _count(world.db, "notifications") == 1
    assert _count(world.db, "revisions") == 1
    listed = world.client.get(world.notifications_url(), headers=world.north.headers).json()
    assert _ids(listed) == {first.json()["id"]}
    # Keys belong to a token: the same key from another party is its own request.
    other = world.client.post(
        world.notifications_url(),
        json=body,
        headers={**world.south.headers, "Idempotency-Key": "order-17/attempt"},
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert len(other.json()["conflicts"]) == 1


def test_idempotency_key_reused_for_another_body_is_422(world: World) -> None:
    headers = {**world.north.headers, "Idempotency-Key": "k-1"}
    first = world.client.post(
        world.notifications_url(), json=simple(world.clock, circle(37.0, 36.5)), headers=headers
    )
    assert first.status_code == 201
    other = world.client.post(
        world.notifications_url(), json=simple(world.clock, circle(38.0, 36.5)), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency-key-reused"
    assert _count(world.db, "notifications") == 1
    # The same key on another endpoint is another request too.
    elsewhere = world.client.post(f"/v1/notifications/{first.json()['id']}/cancel", headers=headers)
    assert elsewhere.status_code == 422
    assert elsewhere.json()["code"] == "idempotency-key-reused"


def test_a_refused_request_does_not_use_up_its_key(world: World) -> None:
    headers = {**world.north.headers, "Idempotency-Key": "retry-after-fix"}
    bad = simple(world.clock, circle(37.0, 91.0))
    refused = world.client.post(world.notifications_url(), json=bad, headers=headers)
    assert refused.status_code == 422
    fixed = simple(world.clock, circle(37.0, 36.5))
    accepted = world.client.post(world.notifications_url(), json=fixed, headers=headers)
    assert accepted.status_code == 201
    assert _count(world.db, "notifications") == 1


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/mechanisms", {"name": "replayed"}),
        ("/v1/parties", {"name": "replayed", "code": "REPLAY"}),
    ],
)
def test_operator_posts_are_idempotent(world: World, path: str, body: dict[str, Any]) -> None:
    headers = {**world.operator, "Idempotency-Key": "setup-1"}
    before = len(world.client.get(path, headers=world.operator).json())
    first = world.client.post(path, json=body, headers=headers)
    again = world.client.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert len(world.client.get(path, headers=world.operator).json()) == before + 1


def test_cancel_and_acknowledge_replays_are_not_errors(scene: Scene) -> None:
    w = scene.world
    ack_headers = {**w.south.headers, "Idempotency-Key": "ack-1"}
    path = f"/v1/notifications/{scene.n1['id']}/acknowledge"
    first = w.client.post(path, headers=ack_headers)
    w.clock.advance(minutes=1)
    assert w.client.post(path, headers=ack_headers).json() == first.json()
    cancel_headers = {**w.north.headers, "Idempotency-Key": "cancel-1"}
    path = f"/v1/notifications/{scene.n1['id']}/cancel"
    cancelled = w.client.post(path, json={"reason": "weather"}, headers=cancel_headers)
    replay = w.client.post(path, json={"reason": "weather"}, headers=cancel_headers)
    assert cancelled.status_code == replay.status_code == 200
    assert replay.json() == cancelled.json()
    # Without the key a second cancel is refused: it is already cancelled.
    assert w.client.post(path, headers=w.north.headers).status_code == 409


def test_a_token_is_shown_once_even_to_a_retry(world: World) -> None:
    headers = {**world.operator, "Idempotency-Key": "token-1"}
    path = f"/v1/parties/{world.north.id}/tokens"
    first = world.client.post(path, json={"label": "x"}, headers=headers)
    assert first.status_code == 201 and first.json()["token"]
    again = world.client.post(path, json={"label": "x"}, headers=headers)
    assert again.status_code == 409
    assert first.json()["token"] not in again.text


# ---------------------------------------------------------------- revisions


def test_revision_needs_the_current_version_in_if_match(scene: Scene) -> None:
    w, path = scene.world, f"/v1/notifications/{scene.n1['id']}"
    body = {**scene.n1_body, "title": "GRANITE, revised"}
    assert w.client.get(path, headers=w.north.headers).headers["etag"] == '"1"'

    missing = w.client.put(path, json=body, headers=w.north.headers)
    assert missing.status_code == 428
    assert missing.json()["code"] == "precondition-required"
    stale = w.client.put(path, json=body, headers={**w.north.headers, "If-Match": '"0"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 1
    garbage = w.client.put(path, json=body, headers={**w.north.headers, "If-Match": "abc"})
    assert garbage.status_code == 422
    assert garbage.json()["errors"][0]["field"] == "If-Match"
    assert w.client.get(path, headers=w.north.headers).json()["version"] == 1

    revised = w.client.put(path, json=body, headers={**w.north.headers, "If-Match": '"1"'})
    assert revised.status_code == 200
    assert revised.json()["version"] == 2 and revised.json()["title"] == "GRANITE, revised"
    assert revised.headers["etag"] == '"2"'
    # The old version is now stale; a weak tag of the current one is fine.
    assert (
        w.client.put(path, json=body, headers={**w.north.headers, "If-Match": '"1"'}).status_code
        == 412
    )
    assert (
        w.client.put(path, json=body, headers={**w.north.headers, "If-Match": 'W/"2"'}).status_code
        == 200
    )

    revisions = w.client.get(f"{path}/revisions", headers=w.north.headers).json()
    assert [r["version"] for r in revisions] == [1, 2, 3]
    assert revisions[0]["title"] == N1_TITLE
    assert revisions[0]["volumes"] == scene.n1["volumes"]
    assert revisions[1]["title"] == revisions[2]["title"] == "GRANITE, revised"


def test_a_bad_revision_changes_nothing(scene: Scene) -> None:
    w, path = scene.world, f"/v1/notifications/{scene.n1['id']}"
    body = {
        **scene.n1_body,
        "volumes": [volume(circle(37.0, 91.0), at(w.clock, hours=1), at(w.clock, hours=2))],
    }
    response = w.client.put(path, json=body, headers={**w.north.headers, "If-Match": '"1"'})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "volumes[0].area.center[1]"
    after = w.client.get(path, headers=w.north.headers).json()
    assert after["version"] == 1 and after["volumes"] == scene.n1["volumes"]
    assert [c["state"] for c in after["conflicts"]] == ["open"]


# ---------------------------------------------------------------- cancel


def test_cancel_resolves_conflicts_with_a_reason(scene: Scene) -> None:
    w, n1_id = scene.world, scene.n1["id"]
    w.clock.advance(minutes=10)
    response = w.client.post(
        f"/v1/notifications/{n1_id}/cancel",
        json={"reason": "mission scrubbed"},
        headers=w.north.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "cancelled" and body["cancel_reason"] == "mission scrubbed"
    assert body["cancelled_at"] == at(w.clock)
    conflict = w.client.get(f"/v1/conflicts/{scene.conflict_id}", headers=w.south.headers).json()
    assert conflict["state"] == "resolved"
    assert conflict["resolved_at"] == at(w.clock)
    assert n1_id in conflict["resolution"] and "cancelled" in conflict["resolution"]
    open_for_south = w.client.get(
        "/v1/conflicts", params={"state": "open"}, headers=w.south.headers
    ).json()
    assert open_for_south == []
    resolved = w.client.get(
        "/v1/conflicts", params={"state": "resolved"}, headers=w.south.headers
    ).json()
    assert _ids(resolved) == {scene.conflict_id}
    # A new SOUTH notification in the same place no longer meets the cancelled one.
    again = w.notify(w.south, simple(w.clock, circle(37.0, 36.5)))
    assert again["conflicts"] == []
    too_long = w.client.post(
        f"/v1/notifications/{scene.s1['id']}/cancel",
        json={"reason": "x" * 201},
        headers=w.south.headers,
    )
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "reason"


# ---------------------------------------------------------------- acknowledge


def test_acknowledging_notifications(scene: Scene) -> None:
    w, path = scene.world, f"/v1/notifications/{scene.n1['id']}/acknowledge"
    own = w.client.post(path, headers=w.north.headers)
    assert own.status_code == 409 and own.json()["code"] == "state-conflict"

    first = w.client.post(path, headers=w.south.headers)
    assert first.status_code == 200
    ack = first.json()
    assert ack["meaning"] == "received and read"
    assert ack["party_id"] == w.south.id and ack["version"] == 1
    assert ack["acknowledged_at"] == at(w.clock)
    w.clock.advance(minutes=30)
    again = w.client.post(path, headers=w.south.headers)
    assert again.status_code == 200
    assert again.json()["acknowledged_at"] == ack["acknowledged_at"]

    assert (
        w.client.get(f"/v1/notifications/{scene.n1['id']}", headers=w.south.headers).json()[
            "acknowledged"
        ]
        is True
    )
    owner_view = w.client.get(f"/v1/notifications/{scene.n1['id']}", headers=w.north.headers).json()
    assert [(a["party_id"], a["version"]) for a in owner_view["acknowledgements"]] == [
        (w.south.id, 1)
    ]


def test_acknowledging_conflicts(scene: Scene) -> None:
    w, path = scene.world, f"/v1/conflicts/{scene.conflict_id}/acknowledge"
    view = w.client.get(f"/v1/conflicts/{scene.conflict_id}", headers=w.north.headers).json()
    assert view["acknowledged"] is False
    first = w.client.post(path, headers=w.north.headers).json()
    assert first["meaning"] == "received and read" and first["version"] == view["revision"]
    w.clock.advance(hours=1)
    again = w.client.post(path, headers=w.north.headers).json()
    assert again["acknowledged_at"] == first["acknowledged_at"]
    north_view = w.client.get(f"/v1/conflicts/{scene.conflict_id}", headers=w.north.headers)
    assert north_view.json()["acknowledged"] is True
    south_view = w.client.get(f"/v1/conflicts/{scene.conflict_id}", headers=w.south.headers)
    assert south_view.json()["acknowledged"] is False
    assert [a["party_id"] for a in south_view.json()["acknowledgements"]] == [w.north.id]


# ---------------------------------------------------------------- GeoJSON


def _assert_feature_collection(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(GEOJSON)
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert isinstance(features, list) and features
    for feature in features:
        assert feature["type"] == "Feature"
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        assert geometry["type"] in ("Polygon", "MultiPolygon")
        geom = shape(geometry)
        assert geom.is_valid and not geom.is_empty and geom.area > 0
        west, south, east, north = geom.bounds
        assert -180 <= west <= east <= 180 and -90 <= south <= north <= 90
    return list(features)


@pytest.fixture
def mixed(scene: Scene) -> dict[str, Any]:
    """A NORTH notification with a polygon, a corridor and a circle; the polygon meets S1."""
    w = scene.world
    start, end = at(w.clock, hours=3), at(w.clock, hours=6)
    return w.notify(
        w.north,
        notification(
            volume(square(37.07, 36.5, 0.01), start, end),
            volume(corridor([[36.0, 35.0], [36.2, 35.1], [36.4, 35.0]], 750), start, end),
            volume(circle(35.0, 34.0, 3_000), start, end),
            title="mixed areas",
        ),
    )


def test_geojson_of_a_whole_notification(scene: Scene, mixed: dict[str, Any]) -> None:
    w = scene.world
    response = w.client.get(
        f"/v1/notifications/{mixed['id']}", headers={**w.north.headers, "Accept": GEOJSON}
    )
    features = _assert_feature_collection(response)
    assert [f["properties"]["area_type"] for f in features] == ["Polygon", "Corridor", "Circle"]
    assert all(f["properties"]["notification_id"] == mixed["id"] for f in features)
    circle_area = _area_m2(features[2]["geometry"])
    assert circle_area == pytest.approx(math.pi * 3_000**2, rel=0.01)
    given = shape(square(37.07, 36.5, 0.01))
    assert shape(features[0]["geometry"]).symmetric_difference(given).area < 1e-9


def test_geojson_of_an_overlap_only_view(scene: Scene, mixed: dict[str, Any]) -> None:
    w = scene.world
    response = w.client.get(
        f"/v1/notifications/{mixed['id']}", headers={**w.south.headers, "Accept": GEOJSON}
    )
    features = _assert_feature_collection(response)
    assert {f["properties"]["side"] for f in features} == {"other"}
    assert {f["properties"]["party"] for f in features} == {"NORTH"}
    assert all("title" not in f["properties"] for f in features)
    # Only the polygon met S1: nothing of the corridor or the circle is shown.
    whole_polygon = shape(square(37.07, 36.5, 0.01))
    assert all(whole_polygon.buffer(1e-6).contains(shape(f["geometry"])) for f in features)


@pytest.mark.parametrize("role", ["owner", "member", "operator"])
def test_geojson_of_lists_and_conflicts(scene: Scene, mixed: dict[str, Any], role: str) -> None:
    w = scene.world
    headers = {**scene.headers(role), "Accept": GEOJSON}
    listed = _assert_feature_collection(w.client.get(w.notifications_url(), headers=headers))
    assert {f["properties"].get("notification_id") for f in listed} >= (
        {scene.s1["id"]} if role == "member" else {scene.n1["id"], mixed["id"]}
    )
    conflicts = _assert_feature_collection(w.client.get("/v1/conflicts", headers=headers))
    conflict_ids = {f["properties"]["conflict_id"] for f in conflicts}
    assert scene.conflict_id in conflict_ids and len(conflict_ids) == 2
    one = _assert_feature_collection(
        w.client.get(f"/v1/conflicts/{scene.conflict_id}", headers=headers)
    )
    assert {f["properties"]["conflict_id"] for f in one} == {scene.conflict_id}
    sides = {f["properties"]["side"] for f in one}
    assert sides == ({"a", "b"} if role == "operator" else {"own", "other"})
    # JSON is still the default.
    plain = w.client.get(f"/v1/conflicts/{scene.conflict_id}", headers=scene.headers(role))
    assert plain.headers["content-type"].startswith("application/json")


# ---------------------------------------------------------------- bad input


def _base(world: World) -> dict[str, Any]:
    return simple(world.clock, circle(37.0, 36.5))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return apply


def _ring(n: int) -> list[list[float]]:
    return [
        [37 + 0.1 * math.cos(2 * math.pi * i / n), 36.5 + 0.1 * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]


BOWTIE = polygon([[37.0, 36.5], [37.1, 36.6], [37.1, 36.5], [37.0, 36.6]])
ACROSS_180 = polygon([[179.5, 10.0], [-179.5, 10.0], [-179.5, 11.0], [179.5, 11.0]])

BAD_INPUT: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("string-number", _set("volumes.0.area.radius", "2000"), "volumes[0].area.radius", "number"),
    (
        "string-altitude",
        _set("volumes.0.altitude.lower", "0"),
        "volumes[0].altitude.lower",
        "number",
    ),
    ("unknown-field", _set("colour", "red"), "colour", ""),
    ("unknown-volume-field", _set("volumes.0.note", "x"), "volumes[0].note", ""),
    ("unknown-area-field", _set("volumes.0.area.radius_nm", 3), "volumes[0].area.radius_nm", ""),
    (
        "agl",
        _set("volumes.0.altitude.reference", "AGL"),
        "volumes[0].altitude.reference",
        "terrain",
    ),
    ("bad-units", _set("volumes.0.altitude.units", "km"), "volumes[0].altitude.units", ""),
    (
        "upper-below-lower",
        _set("volumes.0.altitude.upper", -10),
        "volumes[0].altitude.upper",
        "greater",
    ),
    (
        "missing-offset",
        _set("volumes.0.start", "2031-05-01T08:00:00"),
        "volumes[0].start",
        "offset",
    ),
    ("not-a-time", _set("volumes.0.end", "tomorrow"), "volumes[0].end", "RFC 3339"),
    (
        "self-intersection",
        _set("volumes.0.area", BOWTIE),
        "volumes[0].area.coordinates",
        "self-intersection at longitude 37.05, latitude 36.55",
    ),
    (
        "antimeridian",
        _set("volumes.0.area", ACROSS_180),
        "volumes[0].area.coordinates[0][1]",
        "antimeridian",
    ),
    (
        "past-window",
        lambda b: (
            _set("volumes.0.start", "2031-05-01T01:00:00Z")(b),
            _set("volumes.0.end", "2031-05-01T03:00:00Z")(b),
        ),
        "volumes[0].end",
        "past",
    ),
    (
        "end-before-start",
        _set("volumes.0.end", "2031-05-01T07:00:00Z"),
        "volumes[0].end",
        "later than start",
    ),
    ("too-long", _set("volumes.0.end", "2031-06-15T07:00:00Z"), "volumes[0].end", "maximum"),
    (
        "latitude-range",
        _set("volumes.0.area.center", [37.0, 91.0]),
        "volumes[0].area.center[1]",
        "latitude",
    ),
    (
        "longitude-range",
        _set("volumes.0.area.center", [181.0, 36.0]),
        "volumes[0].area.center[0]",
        "longitude",
    ),
    (
        "position-with-altitude",
        _set("volumes.0.area.center", [37.0, 36.5, 100.0]),
        "volumes[0].area.center",
        "altitude",
    ),
    ("zero-radius", _set("volumes.0.area.radius", 0), "volumes[0].area.radius", "> 0"),
    ("huge-area", _set("volumes.0.area.radius", 200_000), "volumes[0].area", "maximum"),
    (
        "unclosed-ring",
        _set(
            "volumes.0.area",
            {
                "type": "Polygon",
                "coordinates": [[[37.0, 36.5], [37.1, 36.5], [37.1, 36.6], [37.0, 36.6]]],
            },
        ),
        "volumes[0].area.coordinates[0]",
        "closed",
    ),
    (
        "too-many-vertices",
        _set("volumes.0.area", polygon(_ring(1_001))),
        "volumes[0].area.coordinates[0]",
        "at most 1000",
    ),
    (
        "corridor-width",
        _set("volumes.0.area", corridor([[37.0, 36.5], [37.1, 36.5]], -5)),
        "volumes[0].area.half_width",
        "> 0",
    ),
    ("bad-kind", _set("kind", "naval"), "kind", ""),
    ("empty-volumes", _set("volumes", []), "volumes", ""),
    ("missing-title", _delete("title"), "title", "required"),
    ("missing-altitude", _delete("volumes.0.altitude"), "volumes[0].altitude", "required"),
]


@pytest.mark.parametrize(
    "mutate, field_name, reason", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_422_naming_the_field(
    world: World, mutate: Callable[[dict[str, Any]], None], field_name: str, reason: str
) -> None:
    body = _base(world)
    mutate(body)
    response = world.client.post(world.notifications_url(), json=body, headers=world.north.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid-input"
    matching = [e for e in problem["errors"] if e["field"] == field_name]
    assert matching, problem["errors"]
    assert any(reason.lower() in e["reason"].lower() for e in matching), matching
    assert _count(world.db, "notifications") == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e999"])
def test_non_finite_numbers_are_422(world: World, literal: str) -> None:
    """Not finite is bad input like any other: 422 naming the field (1e999 parses as inf)."""
    text = json.dumps(_base(world)).replace('"radius": 2000.0', f'"radius": {literal}')
    assert literal in text
    response = world.client.post(
        world.notifications_url(),
        content=text.encode(),
        headers={**world.north.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "volumes[0].area.radius" and "finite" in error["reason"]


def test_duplicated_keys_are_refused(world: World) -> None:
    text = json.dumps(_base(world)).replace('"kind": "air"', '"kind": "air", "kind": "site"')
    response = world.client.post(
        world.notifications_url(),
        content=text.encode(),
        headers={**world.north.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed-request" and "'kind'" in response.json()["detail"]
    assert _count(world.db, "notifications") == 0


@pytest.mark.parametrize(
    "body, field_name",
    [
        ({"name": "x", "rules": {"horizontal_separation_m": -1}}, "rules.horizontal_separation_m"),
        ({"name": "x", "rules": {"max_area_km2": 0}}, "rules.max_area_km2"),
        ({"name": "x", "rules": {"disclosure": "everything"}}, "rules.disclosure"),
        ({"name": "x", "rules": {"separation": 5}}, "rules.separation"),
        ({"name": ""}, "name"),
        ({"name": "x", "area": BOWTIE}, "area.coordinates"),
    ],
)
def test_bad_mechanisms_are_422(world: World, body: dict[str, Any], field_name: str) -> None:
    response = world.client.post("/v1/mechanisms", json=body, headers=world.operator)
    assert response.status_code == 422
    assert field_name in [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    "params, field_name",
    [
        ({"state": "bogus"}, "state"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "nan,nan,nan,nan"}, "bbox"),
        ({"start": "2031-05-01T08:00:00"}, "start"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_bad_query_parameters_are_422(
    world: World, params: dict[str, str], field_name: str
) -> None:
    response = world.client.get(
        world.notifications_url(), params=params, headers=world.north.headers
    )
    assert response.status_code == 422
    assert field_name in [e["field"] for e in response.json()["errors"]]


def test_bbox_filter(scene: Scene) -> None:
    w = scene.world
    near = w.client.get(
        w.notifications_url(), params={"bbox": "36.9,36.4,37.1,36.6"}, headers=w.operator
    ).json()
    assert _ids(near) == {scene.n1["id"], scene.s1["id"]}
    far = w.client.get(
        w.notifications_url(), params={"bbox": "38.4,36.4,38.6,36.6"}, headers=w.operator
    ).json()
    assert _ids(far) == {scene.a1["id"]}


@pytest.mark.parametrize("limit", [1, 2])
def test_bbox_finds_matches_beyond_the_first_page(scene: Scene, limit: int) -> None:
    """The bbox test runs after the rows are read; a small limit must not hide later matches."""
    w = scene.world
    far = w.client.get(
        w.notifications_url(),
        params={"bbox": "38.4,36.4,38.6,36.6", "limit": str(limit)},
        headers=w.operator,
    ).json()
    assert _ids(far) == {scene.a1["id"]}
    near = w.client.get(
        w.notifications_url(),
        params={"bbox": "36.9,36.4,37.1,36.6", "limit": "1"},
        headers=w.operator,
    ).json()
    assert len(near) == 1 and _ids(near) <= {scene.n1["id"], scene.s1["id"]}


def test_time_and_state_filters(scene: Scene) -> None:
    w, clock = scene.world, scene.world.clock

    # N1 runs 2–14 h from now, S1 4–5 h, A1 2–6 h.
    def ids(**params: str) -> set[str]:
        response = w.client.get(w.notifications_url(), params=params, headers=w.operator)
        assert response.status_code == 200, response.text
        return _ids(response.json())

    n1, s1, a1 = scene.n1["id"], scene.s1["id"], scene.a1["id"]
    assert ids(start=at(clock, hours=6)) == {n1}
    assert ids(end=at(clock, hours=4)) == {n1, a1}
    assert ids(start=at(clock, hours=4, minutes=30), end=at(clock, hours=4, minutes=31)) == {
        n1,
        s1,
        a1,
    }
    assert ids(state="notified") == {n1, s1, a1}
    assert ids(state="active") == set()
    conflicts = w.client.get(
        "/v1/conflicts",
        params={"mechanism": w.mechanism_id, "state": "open"},
        headers=w.south.headers,
    )
    assert _ids(conflicts.json()) == {scene.conflict_id}
    other = w.new_mechanism()
    none = w.client.get("/v1/conflicts", params={"mechanism": other}, headers=w.south.headers)
    assert none.json() == []
    resolved = w.client.get("/v1/conflicts", params={"state": "resolved"}, headers=w.operator)
    assert resolved.json() == []


@pytest.mark.parametrize(
    "content",
    [
        b'{"kind": "air",',
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"radius": 1' + b"0" * 5_000 + b"}",
    ],
    ids=["truncated", "not-utf8", "deeply-nested", "5000-digit-integer"],
)
def test_malformed_json_is_400(world: World, content: bytes) -> None:
    response = world.client.post(
        world.notifications_url(),
        content=content,
        headers={**world.north.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed-request"


def test_body_over_the_limit_is_413(world: World) -> None:
    limit = 1_048_576
    text = json.dumps(_base(world))
    padded = text[:-1] + " " * (limit - len(text)) + "}"
    assert len(padded.encode()) == limit
    headers = {**world.north.headers, "Content-Type": "application/json"}
    exact = world.client.post(world.notifications_url(), content=padded.encode(), headers=headers)
    assert exact.status_code == 201

    over = padded[:-1] + " }"
    declared = world.client.post(world.notifications_url(), content=over.encode(), headers=headers)
    assert declared.status_code == 413
    assert declared.json()["code"] == "payload-too-large"

    def chunks() -> Any:  # no Content-Length: the limit must hold for a stream too
        data = over.encode()
        for i in range(0, len(data), 65_536):
            yield data[i : i + 65_536]

    streamed = world.client.post(world.notifications_url(), content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert _count(world.db, "notifications") == 1


# ---------------------------------------------------------------- headers, health, docs


def test_security_headers_on_every_kind_of_response(world: World) -> None:
    responses = [
        world.client.get("/healthz"),
        world.client.get("/v1/me", headers=world.north.headers),
        world.client.get("/v1/me"),
        world.client.get("/v1/notifications/ntf_0", headers=world.north.headers),
        world.client.post(world.notifications_url(), json={}, headers=world.north.headers),
        world.client.post(
            world.notifications_url(), content=b"x" * 1_100_000, headers=world.north.headers
        ),
    ]
    assert [r.status_code for r in responses] == [200, 200, 401, 404, 422, 413]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    docs = world.client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_health_needs_no_token(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_wrong_method_is_a_problem_document_with_allow(world: World) -> None:
    """405 is bad input too: a complete RFC 9457 document, and RFC 9110's Allow header."""
    response = world.client.request(
        "PATCH", f"/v1/mechanisms/{world.mechanism_id}", headers=world.north.headers
    )
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == 405 and problem["title"] and problem["type"]
    assert "GET" in response.headers.get("allow", "")


def test_openapi_never_says_approved_or_safe(app: Any, client: Any) -> None:
    text = json.dumps(app.openapi(), ensure_ascii=False)
    assert forbidden_words(text) == []
    assert "never approved" in text  # the meaning of an acknowledgement is spelled out
    served = client.get("/openapi.json")
    assert served.status_code == 200 and served.json() == app.openapi()


def test_every_v1_operation_requires_the_bearer_token(app: Any) -> None:
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            secured = any("HTTPBearer" in s for s in operation.get("security", []))
            assert secured == path.startswith("/v1/"), (method, path)


def test_the_word_check_itself() -> None:
    assert forbidden_words("received and read — never approved, never safe") == []
    assert forbidden_words("the plan is approved") != []
    assert forbidden_words("a SAFE corridor") != []
    assert forbidden_words("unsafe-inline; safety") == []
    signature = (  # 64 bytes in base64: a signature once spelled "+safE+"
        "YT2pDU2ygyCw1wR5wr3F5fjk27MuG+safE+dB+EwjVOS/AoQysCX7sADBz+nEo+lhuWfN1EdBcCw1234567890=="
    )
    assert forbidden_words(json.dumps(spoken({"signature": signature, "token": "x safe"}))) == []
    assert forbidden_words(json.dumps(spoken({"state": "safe"}))) != []
    assert forbidden_words(json.dumps(spoken({"detail": "the corridor is safe now"}))) != []


def test_check_response_rejects_a_bare_error() -> None:
    class Fake:
        status_code = 404
        headers = {
            "x-content-type-options": "nosniff",
            "content-security-policy": "default-src 'none'",
            "content-type": "application/json",
        }
        text = "{}"

        class request:  # noqa: N801 - mimics httpx's attribute
            class url:  # noqa: N801
                path = "/v1/x"

        def json(self) -> dict[str, Any]:
            return {"detail": "Not Found"}

    with pytest.raises(AssertionError):
        check_response(Fake())
