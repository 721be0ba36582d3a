"""Lifecycle over HTTP with a movable clock: states, late flag, revisions and their conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import World, altitude, at, circle, notification, simple, volume


def _get(world: World, notification_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = world.client.get(f"/v1/notifications/{notification_id}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _ids_in_state(world: World, state: str) -> set[str]:
    response = world.client.get(
        world.notifications_url(), params={"state": state}, headers=world.north.headers
    )
    assert response.status_code == 200
    return {v["id"] for v in response.json()}


def _revise(world: World, notification_id: str, body: dict[str, Any], version: int) -> Any:
    return world.client.put(
        f"/v1/notifications/{notification_id}",
        json=body,
        headers={**world.north.headers, "If-Match": f'"{version}"'},
    )


def test_states_follow_the_clock(world: World) -> None:
    clock = world.clock
    created = world.notify(world.north, simple(world.clock, circle(37.0, 36.5), hours=(2, 4)))
    nid = created["id"]
    assert created["state"] == "notified"
    assert _ids_in_state(world, "notified") == {nid}

    clock.advance(hours=1, minutes=59)
    assert _get(world, nid, world.north.headers)["state"] == "notified"
    clock.advance(minutes=1)  # the start instant itself
    assert _get(world, nid, world.north.headers)["state"] == "active"
    assert _ids_in_state(world, "active") == {nid}
    assert _ids_in_state(world, "notified") == set()

    clock.advance(hours=1, minutes=59)
    assert _get(world, nid, world.north.headers)["state"] == "active"
    clock.advance(minutes=1)  # the end instant: the window is half-open
    assert _get(world, nid, world.north.headers)["state"] == "ended"
    assert _ids_in_state(world, "ended") == {nid}
    assert _ids_in_state(world, "active") == set()

    # An ended notification can no longer change.
    body = simple(clock, circle(37.0, 36.5), hours=(1, 2))
    revised = _revise(world, nid, body, 1)
    assert revised.status_code == 409 and "ended" in revised.json()["detail"]
    cancelled = world.client.post(f"/v1/notifications/{nid}/cancel", headers=world.north.headers)
    assert cancelled.status_code == 409


def test_active_notifications_can_be_revised_and_cancelled(world: World) -> None:
    created = world.notify(world.north, simple(world.clock, circle(37.0, 36.5), hours=(2, 6)))
    world.clock.advance(hours=3)
    body = simple(world.clock, circle(37.0, 36.5), hours=(-1, 4))  # started an hour ago
    revised = _revise(world, created["id"], body, 1)
    assert revised.status_code == 200
    assert revised.json()["state"] == "active" and revised.json()["version"] == 2
    cancelled = world.client.post(
        f"/v1/notifications/{created['id']}/cancel", headers=world.north.headers
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert _ids_in_state(world, "cancelled") == {created["id"]}
    assert _ids_in_state(world, "active") == set()


@pytest.mark.parametrize(
    "minutes_ahead, late",
    [
        (-30, True),  # already running: accepted, flagged
        (1, True),
        (59, True),
        (60, False),  # exactly the minimum notice is enough
        (61, False),
        (24 * 60, False),
    ],
)
def test_late_when_notified_within_the_minimum_notice(
    world: World, minutes_ahead: int, late: bool
) -> None:
    body = notification(
        volume(
            circle(37.0, 36.5),
            at(world.clock, minutes=minutes_ahead),
            at(world.clock, minutes=minutes_ahead + 120),
        )
    )
    created = world.notify(world.north, body)
    assert created["late"] is late
    assert _get(world, created["id"], world.north.headers)["late"] is late
    expected_state = "active" if minutes_ahead < 0 else "notified"
    assert created["state"] == expected_state


def test_late_uses_the_mechanisms_own_minimum_notice(world: World) -> None:
    mechanism_id = world.new_mechanism({"minimum_notice_min": 240})
    body = simple(world.clock, circle(37.0, 36.5), hours=(3, 5))
    assert world.notify(world.north, body, mechanism_id)["late"] is True
    assert world.notify(world.north, body)["late"] is False  # default: 60 min
    prompt = world.new_mechanism({"minimum_notice_min": 0})
    soon = simple(world.clock, circle(37.0, 36.5), hours=(0.01, 1))
    assert world.notify(world.north, soon, prompt)["late"] is False


def test_a_revision_reassesses_late(world: World) -> None:
    created = world.notify(world.north, simple(world.clock, circle(37.0, 36.5), hours=(3, 5)))
    assert created["late"] is False
    world.clock.advance(hours=2, minutes=30)  # 30 minutes before the start
    revised = _revise(
        world, created["id"], simple(world.clock, circle(37.0, 36.6), hours=(0.5, 2.5)), 1
    )
    assert revised.status_code == 200 and revised.json()["late"] is True
    revisions = world.client.get(
        f"/v1/notifications/{created['id']}/revisions", headers=world.north.headers
    ).json()
    assert [r["late"] for r in revisions] == [False, True]


def _pair(world: World) -> tuple[dict[str, Any], dict[str, Any], str]:
    north = world.notify(world.north, simple(world.clock, circle(37.0, 36.5, 3_000)))
    south = world.notify(world.south, simple(world.clock, circle(37.03, 36.5, 3_000)))
    [conflict] = south["conflicts"]
    assert conflict["state"] == "open" and conflict["revision"] == 1
    return north, south, conflict["id"]


def test_a_revision_that_moves_away_resolves_the_conflict(world: World) -> None:
    north, south, conflict_id = _pair(world)
    world.clock.advance(minutes=7)
    away = simple(world.clock, circle(37.5, 36.5, 3_000), hours=(2, 6))
    revised = _revise(world, north["id"], away, 1)
    assert revised.status_code == 200
    assert revised.json()["version"] == 2
    assert [c["state"] for c in revised.json()["conflicts"]] == ["resolved"]

    for party in (world.north, world.south):
        conflict = world.client.get(f"/v1/conflicts/{conflict_id}", headers=party.headers).json()
        assert conflict["state"] == "resolved"
        assert conflict["resolved_at"] == at(world.clock)
        assert "removed the overlap" in conflict["resolution"]
        assert north["id"] in conflict["resolution"] and "revision 2" in conflict["resolution"]
    assert (
        world.client.get(
            "/v1/conflicts", params={"state": "open"}, headers=world.south.headers
        ).json()
        == []
    )


def test_a_revision_that_still_overlaps_keeps_the_conflict(world: World) -> None:
    north, south, conflict_id = _pair(world)
    ack = world.client.post(f"/v1/conflicts/{conflict_id}/acknowledge", headers=world.south.headers)
    assert ack.status_code == 200 and ack.json()["version"] == 1
    nudged = simple(world.clock, circle(37.01, 36.5, 3_000))
    revised = _revise(world, north["id"], nudged, 1)
    assert revised.status_code == 200
    [conflict] = revised.json()["conflicts"]
    assert conflict["id"] == conflict_id
    assert conflict["state"] == "open" and conflict["revision"] == 2

    south_view = world.client.get(
        f"/v1/conflicts/{conflict_id}", headers=world.south.headers
    ).json()
    assert south_view["revision"] == 2 and south_view["state"] == "open"
    # The acknowledgement was of revision 1: the changed overlap is not yet acknowledged.
    assert south_view["acknowledged"] is False
    listed = world.client.get("/v1/conflicts", headers=world.south.headers).json()
    assert [c["id"] for c in listed] == [conflict_id]

    # Revising without changing the volumes leaves the conflict's revision alone.
    retitled = {**nudged, "title": "same place, new title"}
    again = _revise(world, north["id"], retitled, 2)
    assert again.status_code == 200
    assert [(c["id"], c["revision"]) for c in again.json()["conflicts"]] == [(conflict_id, 2)]


def test_a_revision_can_create_a_conflict(world: World) -> None:
    north = world.notify(world.north, simple(world.clock, circle(38.0, 36.5)))
    south = world.notify(world.south, simple(world.clock, circle(37.0, 36.5)))
    assert north["conflicts"] == south["conflicts"] == []
    revised = _revise(world, north["id"], simple(world.clock, circle(37.01, 36.5)), 1)
    [conflict] = revised.json()["conflicts"]
    assert conflict["state"] == "open" and conflict["other_notification"] == south["id"]
    south_view = _get(world, south["id"], world.south.headers)
    assert [c["id"] for c in south_view["conflicts"]] == [conflict["id"]]


def test_separation_minima_in_all_three_dimensions(world: World) -> None:
    """Default minima: 1,000 m apart, 300 m of altitude, 15 minutes."""
    start, end = at(world.clock, hours=2), at(world.clock, hours=3)
    base = world.notify(
        world.north, notification(volume(circle(37.0, 36.5, 1_000), start, end, altitude(0, 1_000)))
    )
    cases = [  # (area, start, end, altitude, conflicts?)
        (
            circle(37.0, 36.5, 1_000),
            at(world.clock, hours=3, minutes=14),
            at(world.clock, hours=4),
            altitude(0, 1_000),
            True,
        ),
        (
            circle(37.0, 36.5, 1_000),
            at(world.clock, hours=3, minutes=16),
            at(world.clock, hours=4),
            altitude(0, 1_000),
            False,
        ),
        (circle(37.0, 36.5, 1_000), start, end, altitude(1_250, 2_000), True),
        (circle(37.0, 36.5, 1_000), start, end, altitude(1_350, 2_000), False),
        # Centres 2.9 km apart, radii 1 km: a 0.9 km gap is inside the 1 km minimum.
        (circle(37.0 + 2.9 / 89.4, 36.5, 1_000), start, end, altitude(0, 1_000), True),
        (circle(37.0 + 3.2 / 89.4, 36.5, 1_000), start, end, altitude(0, 1_000), False),
    ]
    for area, begin, finish, band, expected in cases:
        created = world.notify(world.south, notification(volume(area, begin, finish, band)))
        found = [c["other_notification"] for c in created["conflicts"]]
        assert found == ([base["id"]] if expected else []), (area, begin, band)


def test_revising_a_cancelled_notification_is_409(world: World) -> None:
    north, _, conflict_id = _pair(world)
    cancelled = world.client.post(
        f"/v1/notifications/{north['id']}/cancel", headers=world.north.headers
    )
    assert cancelled.status_code == 200
    revised = _revise(world, north["id"], simple(world.clock, circle(37.0, 36.5)), 1)
    assert revised.status_code == 409
    assert revised.json()["code"] == "state-conflict" and "cancelled" in revised.json()["detail"]
    after = _get(world, north["id"], world.north.headers)
    assert after["version"] == 1 and after["state"] == "cancelled"
    revisions = world.client.get(
        f"/v1/notifications/{north['id']}/revisions", headers=world.north.headers
    ).json()
    assert [r["version"] for r in revisions] == [1]
    conflict = world.client.get(f"/v1/conflicts/{conflict_id}", headers=world.north.headers)
    assert conflict.json()["state"] == "resolved"


def _answered(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return {name: value for name, value in response.json().items() if name != "receipt"}


def test_a_change_is_answered_as_a_read_returns_it(world: World) -> None:
    """A notify, revise or cancel answers with a view drawn from the row as written, not read
    back: it must be exactly what a read returns right after, with and without a conflict,
    late or not, cancelled with and without a reason."""
    clock = world.clock
    late = notification(volume(circle(37.0, 36.5), at(clock, minutes=5), at(clock, hours=3)))
    created = []
    for owner, body, conflicting in (
        (world.north, simple(clock, circle(37.0, 36.5), hours=(2, 4)), False),
        (world.south, late, True),
    ):
        answer = _answered(
            world.client.post(world.notifications_url(), json=body, headers=owner.headers)
        )
        assert bool(answer["conflicts"]) is conflicting
        assert answer == _get(world, answer["id"], owner.headers)
        created.append((answer, owner))
    assert created[-1][0]["late"] is True
    south, owner = created[-1]
    clock.advance(minutes=7)  # each change is stamped later than the one before
    moved = simple(clock, circle(38.0, 36.5), hours=(2, 4))  # away: the conflict is resolved
    revise = world.client.put(
        f"/v1/notifications/{south['id']}", json=moved, headers={**owner.headers, "If-Match": '"1"'}
    )
    revised = _answered(revise)
    assert revised["version"] == 2 and revised["late"] is False
    assert revised == _get(world, south["id"], owner.headers)
    clock.advance(minutes=7)
    for (answer, party), reason in zip(
        created, ({"reason": "mission scrubbed"}, None), strict=True
    ):
        url = f"/v1/notifications/{answer['id']}/cancel"
        cancelled = _answered(world.client.post(url, json=reason, headers=party.headers))
        assert cancelled["state"] == "cancelled"
        assert cancelled == _get(world, answer["id"], party.headers)
