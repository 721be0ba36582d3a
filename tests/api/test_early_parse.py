"""A notification's body is parsed before its write begins (`_parse_early` in
services/notifications.py), against the rules its mechanism had when this process last read
them and at the moment the body arrived. The write uses that parse only where parsing again at
its own rules and moment would give the same: these tests change each in between."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from deconfliction.domain.rules import Rules
from deconfliction.services import notifications, tokens
from deconfliction.services.context import Context

from .conftest import World, circle, simple

pytestmark = pytest.mark.usefixtures("work_ahead")


class SteppedClock:
    """Answers the test's own thread each moment in turn, then the last one again; the server's
    background workers, asking meanwhile, are told the moment last given."""

    def __init__(self, *moments: datetime) -> None:
        self.moments = list(moments)
        self.calls = 0
        self.thread = threading.get_ident()

    def __call__(self) -> datetime:
        if threading.get_ident() == self.thread:
            self.calls += 1
        return self.moments[min(max(self.calls, 1), len(self.moments)) - 1]


def test_a_body_parsed_against_older_rules_is_judged_by_the_rules_at_the_write(
    world: World, ctx: Context
) -> None:
    big = simple(world.clock, circle(30.0, 10.0, radius=140_000.0))  # ~61,600 km²
    ctx.remember_rules(world.mechanism_id, Rules(max_area_km2=1_000_000.0))
    refused = world.client.post(world.notifications_url(), json=big, headers=world.north.headers)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["volumes[0].area"]
    assert "50,000" in refused.json()["errors"][0]["reason"]
    assert ctx.rules_seen[world.mechanism_id] == Rules()  # what the write read is remembered
    # And the other way round: an area the remembered rules refuse, the mechanism's accept.
    fair = simple(world.clock, circle(30.0, 10.0, radius=20_000.0))  # ~1,260 km²
    ctx.remember_rules(world.mechanism_id, Rules(max_area_km2=1.0))
    accepted = world.client.post(world.notifications_url(), json=fair, headers=world.north.headers)
    assert accepted.status_code == 201, accepted.text


def test_a_body_parsed_before_its_window_ended_is_refused_if_it_ended_by_the_write(
    world: World, ctx: Context
) -> None:
    party = world.north
    actor = tokens.authenticate(ctx, party.token)
    world.notify(party, simple(world.clock, circle(31.0, 10.0)))  # the mechanism's rules are read
    arrived = world.clock.now
    body = simple(world.clock, circle(31.5, 10.0), hours=(-1, 1))  # under way, ends in an hour
    ctx.clock = SteppedClock(arrived, arrived + timedelta(hours=2))
    try:
        notifications.notify(ctx, actor, mechanism_id=world.mechanism_id, body=body)
    except notifications.InvalidInput as error:
        assert [e.field for e in error.errors] == ["volumes[0].end"]
        assert "in the past" in error.errors[0].reason
    else:
        raise AssertionError("a window over by the time of the write was accepted")
    assert ctx.clock.calls == 2  # parsed early at its arrival, judged again at the write
    # The same body, the clock standing still: accepted, from the early parse.
    ctx.clock = SteppedClock(arrived)
    created = notifications.notify(ctx, actor, mechanism_id=world.mechanism_id, body=body)
    assert created["version"] == 1 and created["state"] == "active"


def test_a_replay_after_its_window_ended_is_answered_from_its_record(world: World) -> None:
    body = simple(world.clock, circle(32.0, 10.0), hours=(-1, 1))
    keyed = {**world.north.headers, "Idempotency-Key": "under-way/1"}
    first = world.client.post(world.notifications_url(), json=body, headers=keyed)
    assert first.status_code == 201, first.text
    world.clock.advance(hours=2)  # the window has ended: the early parse refuses the body
    again = world.client.post(world.notifications_url(), json=body, headers=keyed)
    assert again.status_code == 201 and again.json() == first.json()
    fresh = world.client.post(world.notifications_url(), json=body, headers=world.north.headers)
    assert fresh.status_code == 422
    assert [e["field"] for e in fresh.json()["errors"]] == ["volumes[0].end"]
