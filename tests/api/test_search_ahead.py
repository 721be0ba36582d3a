"""A notify searches its conflicts before its write, in a read snapshot, and the write brings
that search up to date with the notifications whose indexed volumes changed since its mark
(services/conflict_search.py, storage/sqlite/index_changes.py).

These tests change the index in between — whole use cases of other parties, run once the search
ahead is done and just before the notify's write begins — and check that the write records the
conflicts a search in the write would: with what was notified, cancelled or revised meanwhile.
A spy on the search says which path the write took: the search ahead (`among` None), then the
changed notifications searched again in the write, or a search afresh there (`among` None)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconfliction.domain.rules import Rules
from deconfliction.domain.volumes import Box, box_of, parse_volumes
from deconfliction.services import conflict_search, notifications, tokens
from deconfliction.services.context import Actor, Context

from .conftest import Party, World, circle, simple

pytestmark = pytest.mark.usefixtures("work_ahead")

HERE = (30.0, 10.0)  # the notify's circle; "near" ones overlap it, "far" ones do not
FAR = (31.0, 10.0)


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[list[str] | None]:
    """The `among` of every search made, in order (None: a whole search of the index)."""
    made: list[list[str] | None] = []
    real = conflict_search._found

    def spy(*args: Any) -> Any:
        made.append(args[5] if len(args) > 5 else None)
        return real(*args)

    monkeypatch.setattr(conflict_search, "_found", spy)
    return made


def _actor(ctx: Context, party: Party) -> Actor:
    return tokens.authenticate(ctx, party.token)


def _with_meanwhile(
    ctx: Context, meanwhile: Callable[[], None], notify: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """`notify()`, with `meanwhile` run between its search ahead and its write."""
    real = ctx.store.write

    def write() -> Any:
        ctx.store.write = real  # type: ignore[method-assign]
        meanwhile()
        return real()

    ctx.store.write = write  # type: ignore[method-assign]
    try:
        return notify()
    finally:
        ctx.store.write = real  # type: ignore[method-assign]


def _notify_with(ctx: Context, world: World, meanwhile: Callable[[], None]) -> dict[str, Any]:
    """NORTH notifies at HERE; `meanwhile` runs between its search ahead and its write."""
    body = simple(world.clock, circle(*HERE))
    return _with_meanwhile(
        ctx,
        meanwhile,
        lambda: notifications.notify(
            ctx, _actor(ctx, world.north), mechanism_id=world.mechanism_id, body=body
        ),
    )


def _south(ctx: Context, world: World, where: tuple[float, float]) -> str:
    body = simple(world.clock, circle(*where))
    created = notifications.notify(
        ctx, _actor(ctx, world.south), mechanism_id=world.mechanism_id, body=body
    )
    return str(created["id"])


def _conflicting(ctx: Context, notification_id: str) -> set[str]:
    """The notifications the notification has open conflicts with."""
    with ctx.store.read() as tx:
        rows = tx.open_conflicts_of(notification_id)
    return {
        r["notification_a"] if r["notification_b"] == notification_id else r["notification_b"]
        for r in rows
    }


def test_a_notification_stored_between_the_search_and_the_write_is_a_conflict(
    world: World, ctx: Context, searches: list[list[str] | None]
) -> None:
    old = _south(ctx, world, HERE)  # also lets this process read the mechanism's rules
    later: list[str] = []
    searches.clear()
    created = _notify_with(ctx, world, lambda: later.append(_south(ctx, world, HERE)))
    assert _conflicting(ctx, created["id"]) == {old, later[0]}
    # Ahead: the whole index; the meanwhile notify's own search; in the write: the one stored.
    assert searches == [None, None, [later[0]]]


def test_a_candidate_cancelled_or_revised_meanwhile_is_judged_as_it_is_at_the_write(
    world: World, ctx: Context, searches: list[list[str] | None]
) -> None:
    south = _actor(ctx, world.south)
    cancelled, moved_away, moved_here = (_south(ctx, world, w) for w in (HERE, HERE, FAR))
    kept = _south(ctx, world, HERE)

    def meanwhile() -> None:
        notifications.cancel(ctx, south, notification_id=cancelled)
        for notification_id, where in ((moved_away, FAR), (moved_here, HERE)):
            notifications.revise(
                ctx,
                south,
                notification_id=notification_id,
                body=simple(world.clock, circle(*where)),
                expected_version=1,
            )

    searches.clear()
    created = _notify_with(ctx, world, meanwhile)
    assert _conflicting(ctx, created["id"]) == {kept, moved_here}
    changed = sorted([cancelled, moved_away, moved_here])
    assert searches[0] is None and searches[-1] == changed  # ahead, then the three again


def test_a_write_whose_mark_was_pruned_searches_afresh(
    world: World, ctx: Context, searches: list[list[str] | None]
) -> None:
    old = _south(ctx, world, HERE)
    later: list[str] = []

    def meanwhile() -> None:
        later.append(_south(ctx, world, HERE))
        with ctx.store.write() as tx:  # the journal keeps none of it
            assert not tx.prune_index_changes(0, 1_000_000)

    searches.clear()
    created = _notify_with(ctx, world, meanwhile)
    assert _conflicting(ctx, created["id"]) == {old, later[0]}
    assert searches == [None, None, None]  # ahead, the meanwhile notify, afresh in the write


def test_a_party_outside_the_mechanism_gets_no_search(
    world: World, ctx: Context, searches: list[list[str] | None]
) -> None:
    _south(ctx, world, HERE)
    searches.clear()
    body = simple(world.clock, circle(*HERE))
    with pytest.raises(notifications.NotFound):
        notifications.notify(
            ctx, _actor(ctx, world.outsider), mechanism_id=world.mechanism_id, body=body
        )
    assert searches == []


def test_the_journal_names_each_change_of_the_index_after_a_mark(
    world: World, ctx: Context
) -> None:
    first = _south(ctx, world, HERE)
    with ctx.store.read() as tx:
        mark = tx.index_mark(world.mechanism_id)
        assert tx.index_changed_since(world.mechanism_id, mark) == set()
        assert tx.index_changed_since(world.mechanism_id, mark - 1) == {first}
    second = _south(ctx, world, FAR)
    other = world.new_mechanism()
    world.notify(world.north, simple(world.clock, circle(*HERE)), mechanism_id=other)
    notifications.cancel(ctx, _actor(ctx, world.south), notification_id=first)
    with ctx.store.read() as tx:
        assert tx.index_changed_since(world.mechanism_id, mark) == {first, second}
        newest = tx.index_mark(world.mechanism_id)
        assert newest > mark and tx.index_changed_since(world.mechanism_id, newest) == set()


def test_pruning_keeps_the_newest_ids_and_refuses_older_marks(world: World, ctx: Context) -> None:
    made = [_south(ctx, world, (30.0 + i / 100, 10.0)) for i in range(5)]
    with ctx.store.read() as tx:
        newest = tx.index_mark(world.mechanism_id)
    with ctx.store.write() as tx:
        assert tx.prune_index_changes(2, 1)  # one id a step: more to prune
    with ctx.store.write() as tx:
        while tx.prune_index_changes(2, 1):
            pass
        assert not tx.prune_index_changes(2, 1)  # nothing left beyond the newest two
    with ctx.store.read() as tx:
        assert tx.index_changed_since(world.mechanism_id, newest - 2) == set(made[-2:])
        assert tx.index_changed_since(world.mechanism_id, newest - 3) is None


def test_candidates_among_are_the_candidates_of_those_notifications(
    world: World, ctx: Context
) -> None:
    ids = [_south(ctx, world, (30.0 + i / 200, 10.0)) for i in range(4)]
    box_of_all = _box_around(world)
    with ctx.store.read() as tx:
        every = tx.candidates(world.mechanism_id, world.north.id, box_of_all)
        some = tx.candidates_among(world.mechanism_id, world.north.id, box_of_all, ids[1:3])
        none = tx.candidates_among(world.mechanism_id, world.south.id, box_of_all, ids)
    assert sorted(every.notification_ids) == sorted(ids)
    assert sorted(some.notification_ids) == sorted(ids[1:3])
    assert len(none) == 0  # a party's own volumes are never its candidates


def _box_around(world: World) -> Box:
    """A box holding every circle the candidates test notifies."""
    body = simple(world.clock, circle(30.01, 10.0, radius=20_000.0))
    (volume,) = parse_volumes(body["volumes"], rules=Rules(), now=world.clock.now)
    return box_of(volume)


# A notification of the property test: (party 0–2, grid step east); circles of 2 km, 0.01° apart,
# so neighbours within a few steps overlap. Meanwhile: notify (party, step), cancel (which) or
# revise (which, step) one made before.
prior_args = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 8)), min_size=1, max_size=6)
meanwhile_args = st.lists(
    st.one_of(
        st.tuples(st.just("notify"), st.integers(0, 2), st.integers(0, 8)),
        st.tuples(st.just("cancel"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("revise"), st.integers(0, 5), st.integers(0, 8)),
    ),
    max_size=5,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prior=prior_args, meanwhile=meanwhile_args, step=st.integers(0, 8))
def test_the_write_records_what_a_search_in_the_write_finds(
    world: World,
    ctx: Context,
    prior: list[tuple[int, int]],
    meanwhile: list[tuple[str, int, int]],
    step: int,
) -> None:
    mechanism_id = world.new_mechanism()
    parties = [_actor(ctx, p) for p in (world.north, world.south, world.aid)]

    def body(at_step: int) -> dict[str, Any]:
        return simple(world.clock, circle(30.0 + at_step / 100, 10.0))

    def notify(party: int, at_step: int) -> str:
        made = notifications.notify(
            ctx, parties[party], mechanism_id=mechanism_id, body=body(at_step)
        )
        return str(made["id"])

    made = [(party, notify(party, at_step), 1) for party, at_step in prior]

    def change() -> None:
        for op, which, at_step in meanwhile:
            if op == "notify":
                made.append((which, notify(which, at_step), 1))
                continue
            if which >= len(made) or made[which][2] == 0:
                continue
            party, notification_id, version = made[which]
            if op == "cancel":
                notifications.cancel(ctx, parties[party], notification_id=notification_id)
                made[which] = (party, notification_id, 0)
            else:
                notifications.revise(
                    ctx,
                    parties[party],
                    notification_id=notification_id,
                    body=body(at_step),
                    expected_version=version,
                )
                made[which] = (party, notification_id, version + 1)

    created = _with_meanwhile(
        ctx,
        change,
        lambda: notifications.notify(ctx, parties[0], mechanism_id=mechanism_id, body=body(step)),
    )
    volumes = parse_volumes(body(step)["volumes"], rules=Rules(), now=world.clock.now)
    placed = notifications.placed_volumes(created["id"], world.north.id, volumes)
    with ctx.store.read() as tx:
        whole = conflict_search.found_in_turn(
            tx, mechanism_id=mechanism_id, party_id=world.north.id, placed=placed, rules=Rules()
        )
    assert _conflicting(ctx, created["id"]) == {
        f.finding.notification_a
        if f.finding.notification_b == created["id"]
        else f.finding.notification_b
        for f in whole
    }
