"""SQLite and PostgreSQL give the same conflicts: the same random notifications, fed through the
real services to a store of each kind, record the same pairs (the stores only offer candidates;
the domain decides, so any difference is a candidate one of them failed to offer)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from backends import Databases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconfliction.runtime import open_context
from deconfliction.services import admin, notifications, tokens
from deconfliction.services.context import Actor, Context

pytestmark = pytest.mark.postgres_only

T0 = datetime(2031, 5, 1, 6, 0, tzinfo=UTC)
RULES = {"horizontal_separation_m": 1_000, "vertical_separation_m": 150, "time_buffer_min": 10}


def instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# One notification: (party, lon, lat, radius m, lower m, height m, start min, duration min),
# all within a few km, metres and hours of each other, so many touch, some only just.
notification_args = st.tuples(
    st.integers(0, 2),
    st.floats(37.0, 37.06),
    st.floats(36.0, 36.05),
    st.integers(100, 3_000),
    st.integers(0, 3_000),
    st.integers(50, 2_000),
    st.integers(0, 240),
    st.integers(10, 120),
)


def body(args: tuple[Any, ...]) -> dict[str, Any]:
    _, lon, lat, radius, lower, height, start, duration = args
    begin = T0 + timedelta(days=1, minutes=start)
    volume = {
        "area": {"type": "Circle", "center": [lon, lat], "radius": radius},
        "altitude": {"lower": lower, "upper": lower + height, "units": "m", "reference": "AMSL"},
        "start": instant(begin),
        "end": instant(begin + timedelta(minutes=duration)),
    }
    return {"kind": "air", "title": "sortie", "volumes": [volume]}


class Line:
    """One backend's service with an operator and three party actors."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.operator = tokens.authenticate(ctx, tokens.create_operator_token(ctx))
        self.parties: list[Actor] = []
        for code in ("NORTH", "SOUTH", "EAST"):
            party = admin.create_party(self.ctx, self.operator, name=code, code=code)
            token = tokens.create_party_token(
                ctx, self.operator, party_id=party["id"], label="duty"
            )
            self.parties.append(tokens.authenticate(ctx, token["token"]))

    def conflicts(self, notified: list[tuple[Any, ...]]) -> set[tuple[int, int]]:
        """Notify each in turn in a new mechanism; the conflicting pairs as (i, j), i < j."""
        mechanism = admin.create_mechanism(self.ctx, self.operator, name="m", rules=RULES)["id"]
        for actor in self.parties:
            admin.add_member(
                self.ctx, self.operator, mechanism_id=mechanism, party_id=actor.party_id
            )
        order: dict[str, int] = {}
        for i, args in enumerate(notified):
            view = notifications.notify(
                self.ctx, self.parties[args[0]], mechanism_id=mechanism, body=body(args)
            )
            order[view["id"]] = i
        with self.ctx.store.read() as tx:
            rows = tx.conflicts(party=None, mechanism_id=mechanism, state="open", limit=10_000)
        pairs = ((order[r["notification_a"]], order[r["notification_b"]]) for r in rows)
        return {(min(pair), max(pair)) for pair in pairs}


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Line, Line]]:
    folder = tmp_path_factory.mktemp("agree")
    sqlite_ctx, _ = open_context(f"sqlite:///{folder / 'agree.db'}", clock=lambda: T0)
    with Databases(folder) as databases:
        database = databases.new("agree-pg.db")
        postgres_ctx, _ = open_context(database.url, database.key_file, clock=lambda: T0)
        yield Line(sqlite_ctx), Line(postgres_ctx)
        postgres_ctx.store.close()
    sqlite_ctx.store.close()


@settings(
    deadline=None,
    max_examples=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(notification_args, min_size=2, max_size=8))
def test_the_same_notifications_give_the_same_conflicts_on_both_backends(
    lines: tuple[Line, Line], notified: list[tuple[Any, ...]]
) -> None:
    on_sqlite, on_postgres = (line.conflicts(notified) for line in lines)
    assert on_sqlite == on_postgres
