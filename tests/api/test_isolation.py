"""Isolation (#7): every route of the OpenAPI document, called by every kind of caller on every
party's objects, shows no caller more than the disclosure policy allows, cannot tell a hidden
object from a missing one, and carries the security headers.

The scene: parties A, B and D share mechanism M1 (A's and B's notifications conflict, D's meet
neither); C and E share mechanism M2, where C's notification lies exactly where A's does; A and
B also share M3, whose policy is `full`. Every free-text field a party writes (or the operator
writes about it) holds a unique marker `MARK-<owner>-<FIELD>-<hex>`, registered with the
callers the policy lets read it: a notification's title, reference and cancel reason its owner
only (others see only the overlap; every member under `full`); a party's name, code and contact
and a mechanism's name the mechanism's members; a message's body its sender and recipients; an
incident's description and finding the parties involved; token labels and webhook URLs their
own party. The operator may read everything.

The sweep calls every route as A, B, C, D, the operator, a revoked token and no token, with each
path (or id query) parameter filled by A's, B's and C's objects and by an id that does not
exist; then reads every receipt, event page and notification list of each caller and its event
stream. Every response is searched for markers its caller may not read (and every marker must
reach each party allowed to read it, so that its absence elsewhere means something); a hidden
object must answer exactly as a missing one does, once the ids are masked; every response
carries the security headers.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from backends import Databases

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.services import scheduler
from deconfliction.services.context import Context
from deconfliction.services.tokens import create_operator_token

from .conftest import (
    CheckedClient,
    MovableClock,
    Party,
    World,
    altitude,
    at,
    bearer,
    circle,
    notification,
    open_test_context,
    volume,
)

PARTIES = ("A", "B", "C", "D")
CALLERS = (*PARTIES, "operator", "revoked", "anonymous")
UNAUTHENTICATED = ("revoked", "anonymous")
MARKER = re.compile(r"MARK-[A-Z]+-[A-Z0-9_]+-[0-9A-F]{10}")
PUBLIC_KEY = "98iwktEjhOUFsq01uQjsZeqB2P9PDAw/+MsM43Y2nZs="
EVENT_STREAM = "text/event-stream"
GEOJSON = "application/geo+json"
JSON = "application/json"
FULL = {"disclosure": "full"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "cross-origin-resource-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
API_CSP = ("default-src 'none'", "frame-ancestors 'none'")
NO_FEATURES = ("camera=()", "geolocation=()", "microphone=()", "payment=()", "usb=()")
# A path or query parameter → the kind of object it names; MISSING: an id of each kind that
# names nothing.
ID_KINDS = {
    "mechanism_id": "mechanism",
    "mechanism": "mechanism",
    "notification_id": "notification",
    "conflict_id": "conflict",
    "message_id": "message",
    "thread_id": "message",
    "incident_id": "incident",
    "webhook_id": "webhook",
    "token_id": "token",
    "party_id": "party",
    "index": "entry",
}
MISSING = {
    "mechanism": "mec_0000000000000000",
    "notification": "ntf_0000000000000000",
    "conflict": "cfl_0000000000000000",
    "message": "msg_0000000000000000",
    "incident": "inc_0000000000000000",
    "webhook": "whk_0000000000000000",
    "token": "tok_0000000000000000",
    "party": "pty_0000000000000000",
    "entry": "999999999",
}
_serial = itertools.count(1)


# ---------------------------------------------------------------- markers and their readers


class Markers:
    """Unique markers, each with the callers the disclosure policy lets read it."""

    def __init__(self) -> None:
        self.readers: dict[str, frozenset[str]] = {}

    def new(self, owner: str, what: str, readers: tuple[str, ...]) -> str:
        marker = f"MARK-{owner}-{what}-{secrets.token_hex(5).upper()}"
        self.readers[marker] = frozenset({*readers, "operator"})
        return marker

    def foreign(self, caller: str, text: str) -> set[str]:
        """The markers in `text` the caller may not read (an unregistered one counts too)."""
        return {m for m in MARKER.findall(text) if caller not in self.readers.get(m, ())}


# ---------------------------------------------------------------- the scene


@dataclass(frozen=True)
class Target:
    """Objects whose ids fill parameters: each kind's id and the callers that may know it exists."""

    owner: str
    objects: dict[str, tuple[str, frozenset[str]]]

    def id_for(self, param: str) -> str:
        return self.objects[ID_KINDS[param]][0]

    def known_to(self, param: str) -> frozenset[str]:
        return self.objects[ID_KINDS[param]][1] | {"operator"}


NOBODY = Target("missing", {kind: (value, frozenset()) for kind, value in MISSING.items()})


@dataclass
class Scene:
    """The planted world: parties A–E, named ids, the markers and the sweep's targets."""

    world: World
    ctx: Context
    markers: Markers = field(default_factory=Markers)
    parties: dict[str, Party] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    revoked: dict[str, str] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    @property
    def client(self) -> CheckedClient:
        return self.world.client

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "operator":
            return self.world.operator
        if caller == "revoked":
            return self.revoked
        if caller == "anonymous":
            return {}
        return self.parties[caller].headers

    def party_id(self, caller: str) -> str | None:
        party = self.parties.get(caller)
        return party.id if party else None

    def send(
        self, method: str, path: str, body: Any, as_: str, status: int = 201, **headers: str
    ) -> dict[str, Any]:
        """A setup request that must succeed."""
        response = self.client.request(
            method, path, json=body, headers={**self.headers(as_), **headers}
        )
        assert response.status_code == status, (method, path, response.text)
        result: dict[str, Any] = response.json()
        return result

    def mark(self, owner: str, what: str, *readers: str) -> str:
        return self.markers.new(owner, what, readers or (owner,))


def _token(s: Scene, owner: str, key: str = "") -> tuple[str, str]:
    """A new token of the owner's party, its label marked; (token, id)."""
    made = s.send(
        "POST",
        f"/v1/parties/{s.ids[f'party {owner}']}/tokens",
        {"label": s.mark(owner, "TOKEN_LABEL")},
        "operator",
    )
    if key:
        s.ids[key] = made["id"]
    return made["token"], made["id"]


def _parties(s: Scene) -> None:
    """A, B, D (readers of each other's names and contacts in M1), C and E (in M2)."""
    for group in ("ABD", "CE"):
        for code in group:
            made = s.send(
                "POST",
                "/v1/parties",
                {
                    "name": s.mark(code, "NAME", *group),
                    "code": s.mark(code, "CODE", *group),
                    "contact": s.mark(code, "CONTACT", *group),
                },
                "operator",
            )
            s.ids[f"party {code}"] = made["id"]
            s.parties[code] = Party(code, made["id"], *_token(s, code))
    for name, members, rules in (("M1", "ABD", {}), ("M2", "CE", {}), ("M3", "AB", FULL)):
        body = {"name": s.mark("OP", name, *members), "rules": rules}
        made = s.send("POST", "/v1/mechanisms", body, "operator")
        s.ids[name] = made["id"]
        s.members[made["id"]] = [s.parties[code].id for code in members]
        for party_id in s.members[made["id"]]:
            s.send(
                "POST", f"/v1/mechanisms/{made['id']}/members", {"party_id": party_id}, "operator"
            )
    s.ids["spare"] = s.send(
        "POST", "/v1/parties", {"name": "a party nobody uses", "code": "SPARE"}, "operator"
    )["id"]
    token, token_id = _token(s, "A")
    s.send("DELETE", f"/v1/tokens/{token_id}", None, "operator", status=200)
    s.revoked = bearer(token)
    for owner in "ABC":
        _token(s, owner, key=f"t{owner}")  # the target of DELETE /v1/tokens/{token_id}


def _notify(
    s: Scene,
    owner: str,
    key: str,
    mechanism: str,
    area: dict[str, Any],
    hours: tuple[int, int],
    readers: str = "",
) -> dict[str, Any]:
    clock = s.world.clock
    body = notification(
        volume(area, at(clock, hours=hours[0]), at(clock, hours=hours[1]), altitude(0, 10_000)),
        title=s.mark(owner, "TITLE", *readers),
        reference=s.mark(owner, "REFERENCE", *readers),
    )
    made = s.world.notify(s.parties[owner], body, mechanism_id=s.ids[mechanism])
    s.ids[key], s.ids[f"e{key}"] = made["id"], str(made["receipt"]["leaf_index"])
    s.bodies[made["id"]] = body
    return made


def _notifications(s: Scene) -> None:
    """A's N1 and B's S1 conflict (c1); A's N2 and B's S2 too (c2), until A cancels N2 with a
    reason; A's N3 and D's D1 meet nothing; in M2, C's CN1 — where N1 is — and E's EN1 (c3).
    In M3, under full disclosure, B may read all of A's F1 and F2, even F2's cancel reason."""
    _notify(s, "A", "N1", "M1", circle(37.0, 36.5, 5_000), (2, 14))
    s.ids["c1"] = _notify(s, "B", "S1", "M1", circle(37.06, 36.5), (4, 5))["conflicts"][0]["id"]
    _notify(s, "A", "N2", "M1", circle(37.5, 36.5, 3_000), (2, 6))
    s.ids["c2"] = _notify(s, "B", "S2", "M1", circle(37.52, 36.5), (2, 6))["conflicts"][0]["id"]
    _notify(s, "A", "N3", "M1", circle(39.0, 36.0), (2, 6))
    _notify(s, "D", "D1", "M1", circle(38.5, 36.5), (2, 6))
    _notify(s, "C", "CN1", "M2", circle(37.0, 36.5, 5_000), (2, 14))
    s.ids["c3"] = _notify(s, "E", "EN1", "M2", circle(37.02, 36.5), (4, 5))["conflicts"][0]["id"]
    revision = {
        **s.bodies[s.ids["N1"]],
        "title": s.mark("A", "TITLE_V2"),
        "reference": s.mark("A", "REFERENCE_V2"),
    }
    s.send(
        "PUT", f"/v1/notifications/{s.ids['N1']}", revision, "A", status=200, **{"If-Match": '"1"'}
    )
    _notify(s, "A", "F1", "M3", circle(40.0, 35.0), (2, 6), readers="AB")
    _notify(s, "A", "F2", "M3", circle(40.5, 35.0), (2, 6), readers="AB")
    for key, readers in (("N2", "A"), ("F2", "AB")):
        cancel = {"reason": s.mark("A", "CANCEL_REASON", *readers)}
        s.send("POST", f"/v1/notifications/{s.ids[key]}/cancel", cancel, "A", status=200)
    for path, party in (
        (f"/v1/conflicts/{s.ids['c1']}", "B"),
        (f"/v1/notifications/{s.ids['N1']}", "B"),
        (f"/v1/notifications/{s.ids['S1']}", "A"),
    ):
        s.send("POST", f"{path}/acknowledge", None, party, status=200)


def _message(s: Scene, key: str, sender: str, to: str, mechanism: str, **extra: Any) -> None:
    body = {
        "to": [s.parties[code].id for code in to],
        "type": "text",
        "body": s.mark(sender, "BODY", sender, *to),
        **extra,
    }
    s.ids[key] = s.send("POST", f"/v1/mechanisms/{s.ids[mechanism]}/messages", body, sender)["id"]


def _line(s: Scene) -> None:
    """Messages, a key, webhooks and an escalation contact."""
    _message(s, "A>B", "A", "B", "M1", priority="urgent", references={"conflicts": [s.ids["c1"]]})
    _message(s, "B>A", "B", "A", "M1", in_reply_to=s.ids["A>B"])
    _message(s, "A>D", "A", "D", "M1", references={"notifications": [s.ids["N1"]]})
    _message(s, "C>E", "C", "E", "M2")
    s.send("POST", f"/v1/messages/{s.ids['B>A']}/acknowledge", None, "A", status=200)
    s.send("PUT", "/v1/keys/me", {"public_key": PUBLIC_KEY}, "A", status=200)
    for owner in "ABC":
        url = f"https://93.184.215.14/{s.mark(owner, 'WEBHOOK_URL')}"
        hook = s.send("POST", "/v1/webhooks", {"url": url, "purpose": "escalation"}, owner)
        s.ids[f"w{owner}"] = hook["id"]
    _, duty = _token(s, "A")
    s.send("PUT", f"/v1/mechanisms/{s.ids['M1']}/escalation", {"token_id": duty}, "A", status=200)


def _incident(s: Scene, key: str, reporter: str, readers: str, mechanism: str, **links: Any) -> str:
    body = {
        "kind": "near-miss",
        "occurred_at": at(s.world.clock, minutes=-10),
        "place": circle(37.03, 36.5, 1_000),
        "description": s.mark(reporter, "DESCRIPTION", *readers),
        **links,
    }
    path = f"/v1/mechanisms/{s.ids[mechanism]}/incidents"
    s.ids[key] = s.send("POST", path, body, reporter)["id"]
    return s.ids[key]


def _incidents(s: Scene) -> None:
    """A's incident with B (reviewed, closed with a finding), A's alone, B's with A, C's with E."""
    closed = _incident(s, "iAB", "A", "AB", "M1", conflict_ids=[s.ids["c1"]])
    s.send("POST", f"/v1/incidents/{closed}/review", None, "A", status=200)
    finding = {"finding": s.mark("A", "FINDING", "A", "B")}
    s.send("POST", f"/v1/incidents/{closed}/close", finding, "A", status=200)
    _incident(s, "iA", "A", "A", "M1", notification_ids=[s.ids["N3"]])
    _incident(s, "iB", "B", "AB", "M1", conflict_ids=[s.ids["c1"]])
    _incident(s, "iC", "C", "CE", "M2", conflict_ids=[s.ids["c3"]])


def _age(s: Scene) -> None:
    """Let deadlines pass and members fall silent: reminders, escalations, silence alarms."""
    for minutes in (20, 20, 70):
        s.world.clock.advance(minutes=minutes)
        while scheduler.step(s.ctx):
            pass


def _targets(s: Scene) -> list[Target]:
    def target(owner: str, objects: dict[str, tuple[str, str]]) -> Target:
        return Target(
            owner, {kind: (s.ids[key], frozenset(who)) for kind, (key, who) in objects.items()}
        )

    return [
        target(
            "A",
            {
                "mechanism": ("M1", "ABD"),
                "notification": ("N1", "AB"),
                "conflict": ("c1", "AB"),
                "message": ("A>D", "AD"),
                "incident": ("iA", "A"),
                "webhook": ("wA", "A"),
                "token": ("tA", "A"),
                "party": ("party A", "ABD"),
                "entry": ("eN1", "A"),
            },
        ),
        target(
            "B",
            {
                "mechanism": ("M1", "ABD"),
                "notification": ("S1", "AB"),
                "conflict": ("c2", "AB"),
                "message": ("B>A", "AB"),
                "incident": ("iB", "AB"),
                "webhook": ("wB", "B"),
                "token": ("tB", "B"),
                "party": ("party B", "ABD"),
                "entry": ("eS1", "B"),
            },
        ),
        target(
            "C",
            {
                "mechanism": ("M2", "CE"),
                "notification": ("CN1", "CE"),
                "conflict": ("c3", "CE"),
                "message": ("C>E", "CE"),
                "incident": ("iC", "CE"),
                "webhook": ("wC", "C"),
                "token": ("tC", "C"),
                "party": ("party C", "CE"),
                "entry": ("eCN1", "C"),
            },
        ),
    ]


def plant(world: World, ctx: Context) -> Scene:
    s = Scene(world, ctx)
    for step in (_parties, _notifications, _line, _incidents, _age):
        step(s)
    s.targets = _targets(s)
    return s


# ---------------------------------------------------------------- how to call each route

Key = tuple[str, str]
Body = Callable[[Scene, str, Target | None], Any]


def _message_body(s: Scene, caller: str, target: Target | None) -> dict[str, Any]:
    mechanism = (target or NOBODY).id_for("mechanism_id")
    others = [p for p in s.members.get(mechanism, []) if p != s.party_id(caller)]
    return {"to": others or [s.parties["B"].id], "type": "text", "body": "sweep"}


def _far_notification(s: Scene, caller: str, target: Target | None) -> dict[str, Any]:
    """A notification in a place of its own: it conflicts with nothing, so no caller comes to
    see a target it could not see before."""
    clock, lon = s.world.clock, 20.0 + next(_serial) * 0.2
    return notification(
        volume(circle(lon, 30.0), at(clock, hours=2), at(clock, hours=6)), title="sweep"
    )


def _revision(s: Scene, caller: str, target: Target | None) -> dict[str, Any]:
    """The target notification's own volumes (so its conflicts stay as they are), retitled."""
    body = s.bodies.get((target or NOBODY).id_for("notification_id"))
    return {**(body or _far_notification(s, caller, target)), "title": "sweep"}


def _incident_body(s: Scene, caller: str, target: Target | None) -> dict[str, Any]:
    return {
        "kind": "other",
        "occurred_at": at(s.world.clock, minutes=-5),
        "place": circle(37.0, 36.5, 500),
        "description": "sweep",
    }


# Request bodies (never holding a marker: a caller's own words are not a leak when echoed).
BODIES: dict[Key, Body] = {
    ("POST", "/v1/mechanisms"): lambda s, c, t: {"name": "sweep"},
    ("POST", "/v1/mechanisms/{mechanism_id}/members"): lambda s, c, t: {"party_id": s.ids["spare"]},
    ("POST", "/v1/parties"): lambda s, c, t: {"name": "sweep", "code": f"SWEEP-{next(_serial)}"},
    ("POST", "/v1/parties/{party_id}/tokens"): lambda s, c, t: {"label": "sweep"},
    ("POST", "/v1/mechanisms/{mechanism_id}/notifications"): _far_notification,
    ("PUT", "/v1/notifications/{notification_id}"): _revision,
    ("POST", "/v1/notifications/{notification_id}/cancel"): lambda s, c, t: {"reason": "sweep"},
    ("POST", "/v1/mechanisms/{mechanism_id}/messages"): _message_body,
    ("PUT", "/v1/mechanisms/{mechanism_id}/escalation"): lambda s, c, t: {
        "token_id": (s.parties.get(c) or s.parties["A"]).token_id
    },
    ("PUT", "/v1/keys/me"): lambda s, c, t: {"public_key": PUBLIC_KEY},
    ("POST", "/v1/webhooks"): lambda s, c, t: {
        "url": "https://93.184.215.14/sweep",
        "purpose": "escalation",  # never sent anywhere: nothing names it for an escalation
    },
    ("POST", "/v1/mechanisms/{mechanism_id}/incidents"): _incident_body,
    ("POST", "/v1/incidents/{incident_id}/close"): lambda s, c, t: {"finding": "sweep"},
}
REQUIRED_QUERIES: dict[Key, dict[str, Any]] = {
    ("GET", "/v1/log/consistency"): {"first": 1, "second": 2},
}
IF_MATCH: set[Key] = {("PUT", "/v1/notifications/{notification_id}")}


@dataclass(frozen=True)
class Route:
    """One operation of the OpenAPI document, as the sweep needs to know it."""

    method: str
    path: str
    operation: dict[str, Any]

    @property
    def key(self) -> Key:
        return self.method, self.path

    def params(self, where: str, required: bool | None = None) -> list[str]:
        return [
            p["name"]
            for p in self.operation.get("parameters", [])
            if p["in"] == where and (required is None or p.get("required", False) == required)
        ]

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(self.params("path"))

    @property
    def id_queries(self) -> tuple[str, ...]:
        return tuple(p for p in self.params("query") if p in ID_KINDS)

    @property
    def accepts(self) -> list[str]:
        """JSON, and GeoJSON where the document offers it (a stream is read on its own)."""
        ok = self.operation["responses"].get("200", {}).get("content", {})
        return [JSON, *([GEOJSON] if GEOJSON in ok else [])]

    @property
    def streams(self) -> bool:
        return EVENT_STREAM in self.operation["responses"].get("200", {}).get("content", {})

    def unknown(self) -> list[str]:
        """What the sweep does not know how to fill for this route."""
        missing = [f"path parameter {p}" for p in self.path_params if p not in ID_KINDS]
        missing += [
            f"query parameter {p}"
            for p in self.params("query", required=True)
            if p not in REQUIRED_QUERIES.get(self.key, {}) and p not in ID_KINDS
        ]
        if "requestBody" in self.operation and self.key not in BODIES:
            missing.append("a request body (add it to BODIES)")
        if self.streams and self.path != "/v1/events":
            missing.append("a bounded read of its stream (see Sweep.stream)")
        return missing


def routes_of(document: dict[str, Any]) -> list[Route]:
    """Every operation, reads first (so writes change nothing a read is checked against)."""
    routes = [
        Route(method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]
    return sorted(routes, key=lambda r: r.method != "GET")


# ---------------------------------------------------------------- the sweep


def header_problems(headers: Any) -> list[str]:
    problems = [
        f"{name}: {headers.get(name)!r}"
        for name, value in SECURITY_HEADERS.items()
        if headers.get(name) != value
    ]
    csp = headers.get("content-security-policy", "")
    problems += [f"CSP lacks {part}" for part in API_CSP if part not in csp]
    features = headers.get("permissions-policy", "")
    problems += [f"permissions-policy lacks {part}" for part in NO_FEATURES if part not in features]
    return problems


def _masked(response: Any, ids: tuple[str, ...]) -> tuple[int, str]:
    text = response.text
    for value in ids:
        text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "<id>", text)
    return response.status_code, text


@dataclass
class Sweep:
    """The calls made and what they showed: coverage, and every problem found, for the tests."""

    scene: Scene
    routes: list[Route]
    calls: int = 0
    covered: set[tuple[str, str, str]] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    seen: dict[str, set[str]] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)
    oracles: list[str] = field(default_factory=list)
    bad_headers: list[str] = field(default_factory=list)
    not_refused: list[str] = field(default_factory=list)

    def record(self, caller: str, what: str, response: Any, text: str | None = None) -> None:
        """Check one response the caller got (`text`: a stream's, as far as it was read)."""
        text = response.text if text is None else text
        where = f"{caller}: {what} → {response.status_code}"
        self.calls += 1
        self.statuses[response.status_code] += 1
        for marker in MARKER.findall(text):
            self.seen.setdefault(marker, set()).add(caller)
        if foreign := self.scene.markers.foreign(caller, text):
            self.leaks.append(f"{where}: {sorted(foreign)}")
        if problems := header_problems(response.headers):
            self.bad_headers.append(f"{where}: {problems}")
        refused = (
            response.status_code == 401 and response.headers.get("www-authenticate") == "Bearer"
        )
        v1 = what.split()[1].startswith("/v1/")
        if caller in UNAUTHENTICATED and v1 and not refused:
            self.not_refused.append(where)

    def call(
        self, route: Route, caller: str, params: tuple[str, ...], target: Target | None
    ) -> Any:
        """Call the route as the caller with `params` naming the target's objects; the JSON
        response (each other documented media type is called and checked too)."""
        s = self.scene
        values = {p: target.id_for(p) for p in params} if target else {}
        path = route.path.format(**{p: v for p, v in values.items() if p in route.path_params})
        query = {
            **REQUIRED_QUERIES.get(route.key, {}),
            **{p: v for p, v in values.items() if p not in route.path_params},
        }
        body = BODIES[route.key](s, caller, target) if route.key in BODIES else None
        headers = s.headers(caller)
        if route.key in IF_MATCH:
            current = s.client.get(path, headers=headers)
            self.record(caller, f"GET {path}", current)
            headers = {**headers, "If-Match": current.headers.get("etag", '"1"')}
        self.covered.add((route.method, route.path, caller))
        responses = []
        for accept in route.accepts:
            response = s.client.request(
                route.method, path, params=query, json=body, headers={**headers, "Accept": accept}
            )
            self.record(caller, f"{route.method} {path} {query or ''} ({accept})", response)
            responses.append(response)
        return responses[0]

    def compare(
        self, route: Route, caller: str, param: str, target: Target, seen: Any, absent: Any
    ) -> None:
        """A caller that may not know the target exists gets what a missing id gets."""
        if caller in target.known_to(param):
            return
        ids = (target.id_for(param), NOBODY.id_for(param))
        if _masked(seen, ids) != _masked(absent, ids):
            self.oracles.append(
                f"{caller}: {route.method} {route.path} with {target.owner}'s {param} → "
                f"{seen.status_code} {seen.text[:200]}, a missing one → {absent.status_code}"
            )

    def sweep_route(self, route: Route) -> None:
        variants: list[tuple[str, ...]] = (
            [route.path_params] if route.path_params else [(), *((q,) for q in route.id_queries)]
        )
        for caller in CALLERS:
            for params in variants:
                if not params:
                    self.call(route, caller, (), None)
                    continue
                absent = self.call(route, caller, params, NOBODY)
                for target in self.scene.targets:
                    seen = self.call(route, caller, params, target)
                    for param in params:
                        self.compare(route, caller, param, target, seen, absent)

    def read_everything(self, caller: str) -> None:
        """Every receipt, event and notification the caller may see, and its event stream."""
        s, headers = self.scene, self.scene.headers(caller)
        mechanisms = s.client.get("/v1/mechanisms", headers=headers)
        for mechanism in mechanisms.json() if mechanisms.status_code == 200 else []:
            for accept in (JSON, GEOJSON):
                path = f"/v1/mechanisms/{mechanism['id']}/notifications"
                listed = s.client.get(
                    path, params={"limit": 1_000}, headers={**headers, "Accept": accept}
                )
                self.record(caller, f"GET {path} ({accept})", listed)
        after: int | None = -1
        while after is not None:
            page = s.client.get("/v1/receipts", params={"after": after}, headers=headers)
            self.record(caller, f"GET /v1/receipts after={after}", page)
            after = page.json()["next_after"] if page.status_code == 200 else None
        last, full = 0, True
        while full:
            page = s.client.get(
                "/v1/events",
                params={"after": last, "limit": 1_000},
                headers={**headers, "Accept": JSON},
            )
            self.record(caller, f"GET /v1/events after={last}", page)
            events = page.json().get("events", [])
            full = len(events) == 1_000
            last = page.json().get("last_event_id", last)
        self.stream(caller, last)

    def stream(self, caller: str, until: int) -> None:
        """The event stream from the start, read up to event `until` (bounded: it never ends)."""
        headers = {**self.scene.headers(caller), "Accept": EVENT_STREAM}
        lines: list[str] = []
        with self.scene.client.stream(
            "GET", "/v1/events", params={"after": 0}, headers=headers
        ) as response:
            if response.status_code != 200:
                lines.append(response.read().decode())
            else:
                for line in response.iter_lines():
                    lines.append(line)
                    if line.startswith("id: ") and int(line[4:]) >= until:
                        break
        self.record(caller, f"GET /v1/events (stream to {until})", response, "\n".join(lines))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    with Databases(tmp_path_factory.mktemp("isolation")) as databases:
        database = databases.new()
        clock = MovableClock()
        ctx = open_test_context(database, clock)
        # Hundreds of requests a token, and a revoked token offered hundreds of times: limits
        # that would otherwise answer 429 (tested on their own in test_rate_limits.py).
        settings = Settings(
            db=database.url, rate_limit_burst=1_000_000, sign_in_free_failures=100_000
        )
        app = create_app(ctx, settings)
        try:
            with CheckedClient(app) as client:
                operator = bearer(create_operator_token(ctx))
                scene = plant(World(client, clock, database, operator, ""), ctx)
                result = Sweep(scene, routes_of(client.get("/openapi.json").json()))
                for route in result.routes:
                    if not route.unknown():
                        result.sweep_route(route)
                for caller in CALLERS:
                    if caller != "operator":  # who sees every entry and event anyway
                        result.read_everything(caller)
                yield result
        finally:
            ctx.store.close()


# ---------------------------------------------------------------- the tests


def test_every_route_is_called_by_every_caller(sweep: Sweep) -> None:
    unknown = {f"{r.method} {r.path}": r.unknown() for r in sweep.routes if r.unknown()}
    assert not unknown, f"routes the sweep does not know how to call: {unknown}"
    expected = {(r.method, r.path, caller) for r in sweep.routes for caller in CALLERS}
    assert sweep.covered == expected
    assert len(sweep.routes) >= 51
    print(
        f"\n{len(sweep.routes)} routes × {len(CALLERS)} callers, {sweep.calls} responses; "
        f"statuses {dict(sorted(sweep.statuses.items()))}"
    )


def test_no_response_shows_a_caller_more_than_the_policy_allows(sweep: Sweep) -> None:
    assert not sweep.leaks, "markers a caller may not see:\n" + "\n".join(sweep.leaks)


def test_every_marker_reached_every_caller_allowed_to_read_it(sweep: Sweep) -> None:
    """The positive control: the planted data is reachable, so its absence elsewhere means
    something."""
    unread = {
        marker: sorted((readers & set(PARTIES)) - sweep.seen.get(marker, set()))
        for marker, readers in sweep.scene.markers.readers.items()
        if (readers & set(PARTIES)) - sweep.seen.get(marker, set())
    }
    assert not unread, unread
    assert len(sweep.scene.markers.readers) >= 50


def test_a_hidden_object_answers_exactly_like_a_missing_one(sweep: Sweep) -> None:
    assert not sweep.oracles, "hidden objects told apart from missing ones:\n" + "\n".join(
        sweep.oracles
    )


def test_no_token_and_a_revoked_token_get_401_everywhere(sweep: Sweep) -> None:
    """With Bearer in WWW-Authenticate; and, like every response, without a marker."""
    assert not sweep.not_refused, sweep.not_refused
    assert sweep.statuses[401] > 0


def test_every_response_carries_the_security_headers(sweep: Sweep) -> None:
    assert not sweep.bad_headers, "\n".join(sweep.bad_headers[:50])
    assert {200, 201, 401, 403, 404, 409} <= set(sweep.statuses)
    assert max(sweep.statuses) < 500


def test_security_headers_on_the_responses_the_sweep_does_not_make(sweep: Sweep) -> None:
    s = sweep.scene
    a = s.headers("A")
    responses = {
        "console": s.client.get("/"),
        "docs": s.client.get("/docs"),
        "openapi": s.client.get("/openapi.json"),
        "405": s.client.request("PATCH", f"/v1/mechanisms/{s.ids['M1']}", headers=a),
        "413": s.client.post("/v1/parties", content=b"x" * 1_100_000, headers=a),
        "400": s.client.post(
            "/v1/parties", content=b"{", headers={**a, "Content-Type": "application/json"}
        ),
        "404": s.client.get("/v1/nowhere", headers=a),
        "422": s.client.get("/v1/conflicts", params={"state": "bogus"}, headers=a),
    }
    limited = create_app(
        s.ctx, Settings(db=s.world.db.url, rate_limit_per_s=0.01, rate_limit_burst=1)
    )
    with CheckedClient(limited) as other:
        other.get("/v1/me", headers=a)
        responses["429"] = other.get("/v1/me", headers=a)
    for name, response in responses.items():
        assert response.status_code == (int(name) if name.isdigit() else 200), name
        problems = header_problems(response.headers)
        if name == "docs":  # the Swagger page has its own policy (scripts of its own)
            problems = [p for p in problems if not p.startswith("CSP lacks default-src")]
        assert not problems, (name, problems)


def test_the_marker_check_itself() -> None:
    markers = Markers()
    own = markers.new("A", "TITLE", ("A",))
    shared = markers.new("A", "CONTACT", ("A", "B"))
    text = f'{{"title": "{own}", "contact": "{shared}"}}'
    assert markers.foreign("A", text) == set()
    assert markers.foreign("B", text) == {own}
    assert markers.foreign("operator", text) == set()
    assert markers.foreign("anonymous", "MARK-Z-UNKNOWN-0123456789") == {
        "MARK-Z-UNKNOWN-0123456789"
    }
