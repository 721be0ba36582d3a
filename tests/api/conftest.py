"""API test fixtures: a real app over a real SQLite file, a movable clock, four parties.

NORTH, SOUTH and AID are members of one mechanism; OUTSIDER is a party that is not. Every
response the client receives is checked for what must hold of *any* response: no server error,
security headers, RFC 9457 problem documents for errors, and never the words "approved" or
"safe" (other than "never approved" / "never safe").
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import warnings
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from backends import Database, Databases

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.runtime import open_context
from deconfliction.services.context import Clock, Context
from deconfliction.services.tokens import create_operator_token

with warnings.catch_warnings():
    # Starlette warns that its TestClient will move to httpx2; irrelevant to these tests.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = datetime(2031, 5, 1, 6, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"
GEOJSON = "application/geo+json"
FORBIDDEN_WORD = re.compile(r"\b(approved|safe)\b", re.IGNORECASE)
NEVER_BEFORE = re.compile(r"\bnever\s+$", re.IGNORECASE)
OPAQUE_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4}){5,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


# ---------------------------------------------------------------- clock and time helpers


class MovableClock:
    """A clock the test sets: `ctx.now()` answers whatever `now` is."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(clock: MovableClock, **delta: float) -> str:
    """An RFC 3339 instant relative to the clock's current time."""
    return iso(clock.now + timedelta(**delta))


# ---------------------------------------------------------------- body builders


def circle(lon: float, lat: float, radius: float = 2_000.0) -> dict[str, Any]:
    return {"type": "Circle", "center": [lon, lat], "radius": radius}


def polygon(ring: list[list[float]]) -> dict[str, Any]:
    if ring[0] != ring[-1]:
        ring = [*ring, ring[0]]
    return {"type": "Polygon", "coordinates": [ring]}


def square(lon: float, lat: float, half: float = 0.02) -> dict[str, Any]:
    """An axis-aligned lon/lat square of side 2·half degrees around (lon, lat)."""
    return polygon(
        [
            [lon - half, lat - half],
            [lon + half, lat - half],
            [lon + half, lat + half],
            [lon - half, lat + half],
        ]
    )


def corridor(points: list[list[float]], half_width: float = 500.0) -> dict[str, Any]:
    return {
        "type": "Corridor",
        "line": {"type": "LineString", "coordinates": points},
        "half_width": half_width,
    }


def altitude(
    lower: float = 0, upper: float = 3_000, units: str = "m", reference: str = "AMSL"
) -> dict[str, Any]:
    return {"lower": lower, "upper": upper, "units": units, "reference": reference}


def volume(
    area: dict[str, Any], start: str, end: str, alt: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"area": area, "altitude": alt or altitude(), "start": start, "end": end}


def notification(
    *volumes: dict[str, Any], kind: str = "air", title: str = "activity", reference: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "title": title, "volumes": list(volumes)}
    if reference:
        body["reference"] = reference
    return body


def simple(
    clock: MovableClock,
    area: dict[str, Any],
    *,
    hours: tuple[float, float] = (2, 6),
    title: str = "activity",
    **kw: Any,
) -> dict[str, Any]:
    """A one-volume notification from `hours[0]` to `hours[1]` after the clock's time."""
    return notification(
        volume(area, at(clock, hours=hours[0]), at(clock, hours=hours[1])), title=title, **kw
    )


# ---------------------------------------------------------------- the checking client


def forbidden_words(text: str) -> list[str]:
    """Occurrences of "approved"/"safe" that are not "never approved"/"never safe"."""
    return [
        text[max(0, m.start() - 30) : m.end() + 10]
        for m in FORBIDDEN_WORD.finditer(text)
        if not NEVER_BEFORE.search(text[max(0, m.start() - 20) : m.start()])
    ]


def spoken(value: Any) -> Any:
    """A response body without what is random text rather than the API speaking.

    Tokens, and signatures, hashes, keys and proofs in base64, are random and can spell anything
    (a signature once held "+safE+").
    """
    if isinstance(value, dict):
        return {k: spoken(v) for k, v in value.items() if k != "token"}
    if isinstance(value, list):
        return [spoken(v) for v in value]
    if isinstance(value, str) and OPAQUE_BASE64.fullmatch(value):
        return ""
    return value


def check_response(response: Any) -> None:
    """What must hold of every API response."""
    assert response.status_code < 500 or response.request.url.path == "/readyz", (
        f"server error {response.status_code}: {response.text[:500]}"
    )
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", response.request.url
    assert "default-src" in headers.get("content-security-policy", ""), response.request.url
    content_type = headers.get("content-type", "")
    if response.status_code >= 400:
        assert content_type.startswith(PROBLEM), (response.status_code, content_type)
        body = response.json()
        assert body.get("status") == response.status_code, body
        assert isinstance(body.get("title"), str) and body["title"], body
        assert isinstance(body.get("type"), str) and body["type"], body
        assert isinstance(body.get("detail"), str), body
    if "json" in content_type:
        text = json.dumps(spoken(response.json()), ensure_ascii=False)
        assert not forbidden_words(text), forbidden_words(text)


class CheckedClient(TestClient):
    """A TestClient that checks every response with `check_response`."""

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = super().request(method, url, **kwargs)
        check_response(response)
        return response


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def database(databases: Databases) -> Database:
    return databases.new()


def open_test_context(database: Database, clock: Clock) -> Context:
    """The service over the test's database (its key file given where it needs one)."""
    return open_context(database.url, key_file=database.key_file, clock=clock)[0]


@pytest.fixture
def ctx(database: Database, clock: MovableClock) -> Iterator[Context]:
    opened = open_test_context(database, clock)
    yield opened
    opened.store.close()


@pytest.fixture
def work_ahead(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests do their work ahead of their writes every time, not only when the store says
    it is free (on SQLite, while another process writes): the tests of that work use it."""
    monkeypatch.setattr(ctx.store, "work_ahead_is_free", lambda: True)


@pytest.fixture
def app(ctx: Context, database: Database) -> Any:
    return create_app(ctx, Settings(db=database.url))


@pytest.fixture
def client(app: Any) -> Iterator[CheckedClient]:
    # Entered once, so every request of a test runs on one event loop (much faster than a
    # loop per request); requests from several threads are still served concurrently.
    with CheckedClient(app) as checked:
        yield checked


@pytest.fixture
def operator_token(ctx: Context) -> str:
    return create_operator_token(ctx)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Party:
    code: str
    id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


_codes = itertools.count(1)


@dataclass
class World:
    """A mechanism with NORTH, SOUTH and AID as members and OUTSIDER outside, via the API."""

    client: CheckedClient
    clock: MovableClock
    db: Database
    operator: dict[str, str]
    mechanism_id: str
    parties: dict[str, Party] = field(default_factory=dict)

    @property
    def north(self) -> Party:
        return self.parties["NORTH"]

    @property
    def south(self) -> Party:
        return self.parties["SOUTH"]

    @property
    def aid(self) -> Party:
        return self.parties["AID"]

    @property
    def outsider(self) -> Party:
        return self.parties["OUTSIDER"]

    def notifications_url(self, mechanism_id: str | None = None) -> str:
        return f"/v1/mechanisms/{mechanism_id or self.mechanism_id}/notifications"

    def notify(
        self, party: Party, body: dict[str, Any], mechanism_id: str | None = None, **headers: str
    ) -> dict[str, Any]:
        """Notify as `party`; the notification must be accepted."""
        response = self.client.post(
            self.notifications_url(mechanism_id), json=body, headers={**party.headers, **headers}
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def new_mechanism(
        self,
        rules: dict[str, Any] | None = None,
        members: tuple[str, ...] = ("NORTH", "SOUTH", "AID"),
    ) -> str:
        body: dict[str, Any] = {"name": f"mechanism {next(_codes)}"}
        if rules is not None:
            body["rules"] = rules
        response = self.client.post("/v1/mechanisms", json=body, headers=self.operator)
        assert response.status_code == 201, response.text
        mechanism_id: str = response.json()["id"]
        for code in members:
            added = self.client.post(
                f"/v1/mechanisms/{mechanism_id}/members",
                json={"party_id": self.parties[code].id},
                headers=self.operator,
            )
            assert added.status_code == 201, added.text
        return mechanism_id

    def new_party(self, code: str | None = None) -> Party:
        code = code or f"P{next(_codes)}"
        created = self.client.post(
            "/v1/parties",
            json={"name": f"party {code}", "code": code, "contact": f"{code} duty desk"},
            headers=self.operator,
        )
        assert created.status_code == 201, created.text
        party_id = created.json()["id"]
        return Party(code, party_id, *self.new_token(party_id))

    def new_token(self, party_id: str) -> tuple[str, str]:
        response = self.client.post(
            f"/v1/parties/{party_id}/tokens", json={"label": "desk"}, headers=self.operator
        )
        assert response.status_code == 201, response.text
        return response.json()["token"], response.json()["id"]


def build_world(
    client: CheckedClient,
    clock: MovableClock,
    db: Database,
    operator_token: str,
    rules: dict[str, Any] | None = None,
) -> World:
    operator = bearer(operator_token)
    world = World(client, clock, db, operator, mechanism_id="")
    for code in ("NORTH", "SOUTH", "AID", "OUTSIDER"):
        world.parties[code] = world.new_party(code)
    world.mechanism_id = world.new_mechanism(rules)
    return world


@pytest.fixture
def world(
    client: CheckedClient, clock: MovableClock, database: Database, operator_token: str
) -> World:
    return build_world(client, clock, database, operator_token)


Result = TypeVar("Result")


def run_async(coroutine: Coroutine[Any, Any, Result]) -> Result:
    """Run a coroutine to its end on a thread of its own. `asyncio.run` refuses a thread whose
    event loop is running, and the main thread's is once the console's browser tests (the sync
    Playwright API) ran in the same process."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
