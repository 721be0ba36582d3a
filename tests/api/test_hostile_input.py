"""Hostile input (#7): a corpus of nasty bodies sent to every write endpoint.

Each gets a clear 4xx — a problem document that names the field, or the place in the body, and
the reason — and nothing is stored. How quickly, and whether memory stays flat over many
repetitions, is measured by `bench/hostile.py` against a real server, not asserted here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from backends import Database

from .conftest import World, at, circle, corridor, polygon, simple

LIMIT = 1_048_576  # the default body limit, Settings.max_body_bytes
SLOT = "@@slot@@"
TABLES = (
    "parties",
    "tokens",
    "mechanisms",
    "members",
    "notifications",
    "revisions",
    "acknowledgements",
    "messages",
    "incidents",
    "webhooks",
    "escalation_contacts",
    "party_keys",
    "log_entries",  # every state change is appended here, in the change's own transaction
)


@dataclass
class Endpoint:
    """A write endpoint and a body it accepts (`{}` where it reads none); not `valid` where
    accepting it would reach out of the machine (a webhook)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    valid: bool = True

    def send(self, world: World, content: bytes | Iterator[bytes]) -> Any:
        headers = {**self.headers, "Content-Type": "application/json"}
        return world.client.request(self.method, self.path, content=content, headers=headers)

    def text(self, path: str | None = None) -> str:
        """The body as JSON text, with `SLOT` (quoted) at `path` for a case to fill in."""
        body = json.loads(json.dumps(self.body))
        if path is not None:
            _put(body, path, SLOT)
        return json.dumps(body)


def _put(body: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        body = body[int(part)] if part.isdigit() else body[part]
    if isinstance(body, list):
        body[int(last)] = value
    else:
        body[last] = value


def _field(path: str) -> str:
    """The API's name of a dotted path: volumes.0.area → volumes[0].area."""
    name = ""
    for part in path.split("."):
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name


def _fill(text: str, literal: bytes) -> bytes:
    assert text.count(f'"{SLOT}"') == 1
    return text.encode().replace(f'"{SLOT}"'.encode(), literal)


def _stored(db: Database) -> dict[str, int]:
    """How many rows each table holds (one statement: one connection, also on PostgreSQL)."""
    counts = ", ".join(f"(SELECT count(*) FROM {table})" for table in TABLES)
    return dict(zip(TABLES, map(int, db.rows(f"SELECT {counts}")[0]), strict=True))


def _endpoints(w: World) -> dict[str, Endpoint]:
    """Every write endpoint, each with what it needs made beforehand."""
    north, south, line = w.north.headers, w.south.headers, f"/v1/mechanisms/{w.mechanism_id}"
    notified = w.notify(w.north, simple(w.clock, circle(37.0, 36.5)))
    conflict = w.notify(w.south, simple(w.clock, circle(37.01, 36.5)))["conflicts"][0]["id"]
    message = {"to": [w.south.id], "type": "text", "body": "hi"}
    sent = w.client.post(f"{line}/messages", json=message, headers=north)
    incident = {
        "kind": "near-miss",
        "occurred_at": at(w.clock, minutes=-30),
        "place": circle(37.0, 36.5),
        "description": "two aircraft closer than agreed",
    }
    reported = w.client.post(f"{line}/incidents", json=incident, headers=north)
    reviewed = w.client.post(f"/v1/incidents/{reported.json()['id']}/review", headers=north)
    assert sent.status_code == reported.status_code == 201 and reviewed.status_code == 200
    notification, message_id = f"/v1/notifications/{notified['id']}", sent.json()["id"]
    return {
        "notify": Endpoint(
            "POST", f"{line}/notifications", north, simple(w.clock, circle(37.0, 36.5))
        ),
        "revise": Endpoint(
            "PUT",
            notification,
            {**north, "If-Match": '"1"'},
            simple(w.clock, circle(37.02, 36.5), hours=(3, 7)),
        ),
        "cancel": Endpoint("POST", f"{notification}/cancel", north, {"reason": "weather"}),
        "acknowledge-conflict": Endpoint("POST", f"/v1/conflicts/{conflict}/acknowledge", north),
        "message": Endpoint(
            "POST",
            f"{line}/messages",
            north,
            {**message, "attachment": circle(37.0, 36.5), "ack_deadline": at(w.clock, hours=1)},
        ),
        "acknowledge-message": Endpoint("POST", f"/v1/messages/{message_id}/acknowledge", south),
        "incident": Endpoint("POST", f"{line}/incidents", north, incident),
        "close-incident": Endpoint(
            "POST", f"/v1/incidents/{reported.json()['id']}/close", north, {"finding": "noted"}
        ),
        "webhook": Endpoint(
            "POST", "/v1/webhooks", north, {"url": "https://93.184.216.34/line"}, valid=False
        ),
        "escalation": Endpoint("PUT", f"{line}/escalation", north, {"token_id": w.north.token_id}),
        "key": Endpoint("PUT", "/v1/keys/me", north, {"public_key": "A" * 43 + "="}),
        "mechanism": Endpoint(
            "POST",
            "/v1/mechanisms",
            w.operator,
            {
                "name": "east",
                "area": polygon([[37.0, 36.0], [38.0, 36.0], [38.0, 37.0]]),
                "rules": {"horizontal_separation_m": 1_000},
            },
        ),
        "party": Endpoint(
            "POST", "/v1/parties", w.operator, {"name": "east", "code": "EAST", "contact": "desk"}
        ),
        "member": Endpoint("POST", f"{line}/members", w.operator, {"party_id": w.outsider.id}),
        "token": Endpoint(
            "POST", f"/v1/parties/{w.north.id}/tokens", w.operator, {"label": "night desk"}
        ),
    }


# A field of each endpoint with a body, a number where the body has one.
FIELDS = {
    "notify": "volumes.0.area.radius",
    "revise": "volumes.0.altitude.upper",
    "cancel": "reason",
    "message": "attachment.radius",
    "incident": "place.radius",
    "close-incident": "finding",
    "webhook": "url",
    "escalation": "token_id",
    "key": "public_key",
    "mechanism": "rules.horizontal_separation_m",
    "party": "contact",
    "member": "party_id",
    "token": "label",
}
NUMBERS = {"notify", "revise", "message", "incident", "mechanism"}
TIMES = {
    "notify": "volumes.0.end",
    "revise": "volumes.0.end",
    "message": "ack_deadline",
    "incident": "occurred_at",
}
AREAS = {
    "notify": "volumes.0.area",
    "revise": "volumes.0.area",
    "message": "attachment",
    "incident": "place",
    "mechanism": "area",
}


@pytest.fixture
def endpoints(world: World) -> dict[str, Endpoint]:
    return _endpoints(world)


def _refused(
    world: World, endpoint: Endpoint, content: bytes | Iterator[bytes], status: int, case: str
) -> dict[str, Any]:
    """Send; the answer must be `status` as a problem document, with nothing stored."""
    before = _stored(world.db)
    response = endpoint.send(world, content)
    assert response.status_code == status, (case, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), case
    assert _stored(world.db) == before, case
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["type"].endswith(problem["code"]), case
    return problem


def _names(problem: dict[str, Any], name: str, reason: str, case: str) -> None:
    """A 422 whose `errors` name the field, with a reason that says `reason` (any if "")."""
    assert problem["code"] == "invalid-input", (case, problem)
    matching = [e for e in problem["errors"] if e["field"] == name]
    assert matching and all(e["reason"] for e in matching), (case, problem["errors"])
    assert any(reason.lower() in e["reason"].lower() for e in matching), (case, matching)


def _still_accepts(world: World, endpoint: Endpoint) -> None:
    """The endpoint's own body is accepted: what was refused was refused for the case alone."""
    if endpoint.valid:
        before = _stored(world.db)
        response = endpoint.send(world, endpoint.text().encode())
        assert response.status_code in (200, 201), response.text
        assert _stored(world.db)["log_entries"] > before["log_entries"]


# ---------------------------------------------------------------- the whole body


def _padded(text: str) -> bytes:
    """Valid JSON one byte over the limit (spaces before the closing brace)."""
    return (text[:-1] + " " * (LIMIT + 1 - len(text.encode())) + "}").encode()


def _streamed(text: str) -> Iterator[bytes]:
    """The same without a Content-Length: the limit must hold for a stream too."""
    data = _padded(text)
    for i in range(0, len(data), 65_536):
        yield data[i : i + 65_536]


def _with_member(text: str, member: str) -> bytes:
    """The object with `member` ("key": value) written first."""
    rest = text[1:] if text == "{}" else ", " + text[1:]
    return ("{" + member + rest).encode()


def _first_key(text: str) -> str:
    return next(iter(json.loads(text)), "note")


def _duplicated_key(text: str) -> bytes:
    key = _first_key(text)
    if text == "{}":
        return _with_member(text, f'"{key}": 1, "{key}": 2')
    return _with_member(text, f'"{key}": 1')


# case → (body from the endpoint's own JSON text, status, code, words the detail must hold)
BodyCase = tuple[Callable[[str], bytes | Iterator[bytes]], int, str, Callable[[str], list[str]]]
BODY_CASES: dict[str, BodyCase] = {
    "huge": (_padded, 413, "payload-too-large", lambda _: ["larger than 1048576 bytes"]),
    "huge-streamed": (_streamed, 413, "payload-too-large", lambda _: ["larger than 1048576"]),
    "utf-16": (
        lambda t: t.encode("utf-16"),
        400,
        "malformed-request",
        lambda _: ["not UTF-8", "at byte 0"],
    ),
    "utf-32": (
        lambda t: t.encode("utf-32"),
        400,
        "malformed-request",
        lambda _: ["not UTF-8", "at byte 0"],
    ),
    "byte-order-mark": (
        lambda t: b"\xef\xbb\xbf" + t.encode(),
        400,
        "malformed-request",
        lambda _: ["byte order mark"],
    ),
    "nested-100000": (
        lambda _: b"[" * 100_000 + b"]" * 100_000,
        400,
        "malformed-request",
        lambda _: ["more than 32 levels"],
    ),
    "nested-33": (
        lambda t: _with_member(t, '"zz": ' + "[" * 32 + "]" * 32),
        400,
        "malformed-request",
        lambda _: ["more than 32 levels"],
    ),
    "duplicated-key": (
        _duplicated_key,
        400,
        "malformed-request",
        lambda t: [f"'{_first_key(t)}' appears twice"],
    ),
    "duplicated-nested-key": (
        lambda t: _with_member(t, '"zz": {"a": 1, "a": 2}'),
        400,
        "malformed-request",
        lambda _: ["'a' appears twice"],
    ),
    "truncated": (
        lambda t: t.encode()[: max(1, len(t) // 2)],
        400,
        "malformed-request",
        lambda _: ["not valid JSON", "line 1, column"],
    ),
}


@pytest.mark.parametrize("name", [*FIELDS, "acknowledge-conflict", "acknowledge-message"])
def test_a_hostile_body_is_refused_saying_why(
    world: World, endpoints: dict[str, Endpoint], name: str
) -> None:
    endpoint = endpoints[name]
    text = endpoint.text()
    for case, (make, status, code, words) in BODY_CASES.items():
        problem = _refused(world, endpoint, make(text), status, case)
        assert problem["code"] == code, (case, problem)
        assert all(w in problem["detail"] for w in words(text)), (case, problem["detail"])
    _still_accepts(world, endpoint)


# ---------------------------------------------------------------- one field's value


def _at_slot(text: str) -> tuple[int, int]:
    """Where the slot's value starts in the body: the byte offset and the 1-based column."""
    offset = text.encode().index(f'"{SLOT}"'.encode())
    return offset, offset + 1


NON_FINITE = {"NaN", "Infinity", "-Infinity", "1e999"}  # 1e999 parses as infinity
# case → the field's JSON literal: refused 422 naming the field
FIELD_CASES: dict[str, bytes] = {
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
    "1e999": b"1e999",
    "lone-surrogate": b'"\\ud800"',
    "NUL": b'"a\\u0000b"',
    "bidi-override": b'"a\\u202eb"',
}
# case → (the field's bytes, what the 400's detail says given the byte offset and column)
BROKEN_CASES: dict[str, tuple[bytes, Callable[[int, int], list[str]]]] = {
    "invalid-utf-8": (b'"\xff"', lambda byte, _: ["not UTF-8", f"at byte {byte + 1}"]),
    "overlong-utf-8": (b'"\xc0\xaf"', lambda byte, _: ["not UTF-8", f"at byte {byte + 1}"]),
    "cesu-surrogate": (b'"\xed\xa0\x80"', lambda byte, _: ["not UTF-8", f"at byte {byte + 1}"]),
    "nested-40": (b"[" * 40 + b"]" * 40, lambda *_: ["more than 32 levels"]),
    "5000-digits": (b"1" + b"0" * 4_999, lambda *_: ["more than 4300 digits"]),
    "bare-word": (b"tru", lambda _, column: ["not valid JSON", f"line 1, column {column}"]),
}


@pytest.mark.parametrize("name", list(FIELDS))
def test_a_hostile_value_is_refused_naming_the_field(
    world: World, endpoints: dict[str, Endpoint], name: str
) -> None:
    endpoint, path = endpoints[name], FIELDS[name]
    text = endpoint.text(path)
    for case, literal in FIELD_CASES.items():
        problem = _refused(world, endpoint, _fill(text, literal), 422, case)
        reason = "finite" if name in NUMBERS and case in NON_FINITE else ""
        _names(problem, _field(path), reason, case)
    for case, (literal, words) in BROKEN_CASES.items():
        problem = _refused(world, endpoint, _fill(text, literal), 400, case)
        assert problem["code"] == "malformed-request", (case, problem)
        where = words(*_at_slot(text))
        assert all(w in problem["detail"] for w in where), (case, problem["detail"])
    _still_accepts(world, endpoint)


# ---------------------------------------------------------------- times, places, vertices

# case → (an instant, what the reason says); every one names the field
TIME_CASES = {
    "year-9999": ("9999-12-31T23:59:59Z", ""),
    "year-10000-in-utc": ("9999-12-31T23:30:00-01:00", ""),
    "year-0-in-utc": ("0001-01-01T00:30:00+01:00", ""),
    "year-10000": ("10000-01-01T00:00:00Z", "RFC 3339"),
    "missing-offset": ("2031-05-01T08:00:00", "offset"),
    "date-only": ("2031-05-01", "RFC 3339"),
    "leap-second": ("2031-06-30T23:59:60Z", "not a real date"),
}


@pytest.mark.parametrize("name", list(TIMES))
def test_an_instant_out_of_range_is_refused_naming_the_field(
    world: World, endpoints: dict[str, Endpoint], name: str
) -> None:
    endpoint, path = endpoints[name], TIMES[name]
    text = endpoint.text(path)
    for case, (instant, reason) in TIME_CASES.items():
        problem = _refused(world, endpoint, _fill(text, json.dumps(instant).encode()), 422, case)
        _names(problem, _field(path), reason, case)
    _still_accepts(world, endpoint)


def _compact(area: dict[str, Any]) -> str:
    return json.dumps(area, separators=(",", ":"))


@cache
def _area_cases() -> dict[str, tuple[str, str, str]]:
    """Case → (an area as JSON, the field under the area's that is named, what the reason says)."""
    return {
        "lat-lon-swapped": (_compact(circle(36.5, 137.0)), ".center[1]", "latitude 137.0 is"),
        "longitude-200": (_compact(circle(200.0, 36.5)), ".center[0]", "longitude 200.0 is"),
        "longitude-1e308": (_compact(circle(1e308, 36.5)), ".center[0]", "outside -180..180"),
        "polygon-latitude-95": (
            _compact(polygon([[37.0, 36.5], [37.1, 95.0], [37.2, 36.5]])),
            ".coordinates[0][1][1]",
            "latitude 95.0 is outside",
        ),
        "corridor-latitude--91": (
            _compact(corridor([[37.0, 36.5], [37.1, -91.0]])),
            ".line.coordinates[1][1]",
            "latitude -91.0 is outside",
        ),
        # Many vertices, yet under the byte limit: refused by the area's own limit, by name.
        "60000-vertices": (
            _compact(polygon([[37 + 0.1 * (i % 2), 36.5 + 1e-5 * i] for i in range(60_000)])),
            ".coordinates[0]",
            "60000 vertices; at most 1000",
        ),
        "20000-point-corridor": (
            _compact(corridor([[37 + 1e-5 * i, 36.5] for i in range(20_000)])),
            ".line.coordinates",
            "20000 vertices; at most 1000",
        ),
    }


@pytest.mark.parametrize("name", list(AREAS))
def test_a_place_out_of_range_is_refused_naming_the_field(
    world: World, endpoints: dict[str, Endpoint], name: str
) -> None:
    endpoint, path = endpoints[name], AREAS[name]
    text = endpoint.text(path)
    for case, (area, under, reason) in _area_cases().items():
        if name == "mechanism" and '"Polygon"' not in area:
            continue  # a mechanism's area of interest is a polygon
        content = _fill(text, area.encode())
        assert len(content) < LIMIT, case  # under the byte limit: refused by the area's rules
        problem = _refused(world, endpoint, content, 422, case)
        _names(problem, _field(path) + under, reason, case)
    _still_accepts(world, endpoint)


@pytest.mark.parametrize("name", list(AREAS))
def test_a_million_vertices_are_refused_by_the_body_limit(
    world: World, endpoints: dict[str, Endpoint], name: str
) -> None:
    endpoint, path = endpoints[name], AREAS[name]
    vertices = "[37.0,36.5]," * 999_999 + "[37.0,36.5]"
    area = '{"type":"Polygon","coordinates":[[' + vertices + "]]}"
    content = _fill(endpoint.text(path), area.encode())
    problem = _refused(world, endpoint, content, 413, "10^6 vertices")
    assert problem["code"] == "payload-too-large"
    assert problem["detail"] == "the request body is larger than 1048576 bytes"
