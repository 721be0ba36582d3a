"""Parties submitting at the same instant: every conflict is recorded exactly once.

Threads released together by a barrier post overlapping notifications through the HTTP API;
afterwards the database itself is read to compare the recorded conflicts with the expected
pairs — none missing, none twice. Retries of one request sent at once take effect once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from backends import Database

from .conftest import Party, World, circle, simple

ROUNDS = 30


def _run_together(tasks: list[Callable[[], Any]]) -> list[Any]:
    """Run the tasks on their own threads, released at the same instant; re-raise any error."""
    barrier = threading.Barrier(len(tasks))
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = tasks[i]()
        except BaseException as error:  # noqa: BLE001 - reported to the main thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a submitting thread hung"
    if errors:
        raise errors[0]
    return results


def _submitter(world: World, party: Party, lon: float, lat: float) -> Callable[[], Any]:
    body = simple(world.clock, circle(lon, lat, 2_000), title=f"{party.code} at {lon:.2f}")

    def submit() -> Any:
        response = world.client.post(world.notifications_url(), json=body, headers=party.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return submit


def _recorded_pairs(database: Database) -> Counter[tuple[str, str]]:
    rows = database.rows(
        "SELECT notification_a, notification_b FROM conflicts WHERE state = 'open'"
    )
    total = database.rows("SELECT count(*) FROM conflicts")[0][0]
    assert total == len(rows), "no conflict should have been resolved"
    return Counter(tuple(sorted(row)) for row in rows)  # type: ignore[misc]


def test_simultaneous_pairs_each_record_their_conflict_once(world: World) -> None:
    expected: set[tuple[str, str]] = set()
    for round_no in range(ROUNDS):
        lon = 30.0 + round_no * 0.5  # ~45 km apart: rounds never meet each other
        north, south = _run_together(
            [
                _submitter(world, world.north, lon, 35.0),
                _submitter(world, world.south, lon + 0.01, 35.0),
            ]
        )
        pair = tuple(sorted((north["id"], south["id"])))
        expected.add(pair)  # type: ignore[arg-type]
        # Whichever committed second saw the first: exactly one response reports it.
        reported = north["conflicts"] + south["conflicts"]
        assert len(reported) == 1, (round_no, reported)
        assert {reported[0]["own_notification"], reported[0]["other_notification"]} == set(pair)

    recorded = _recorded_pairs(world.db)
    assert set(recorded) == expected
    assert all(count == 1 for count in recorded.values()), recorded

    # Each party now sees every one of its conflicts, once.
    for party in (world.north, world.south):
        listed = world.client.get(
            "/v1/conflicts", params={"limit": 1000}, headers=party.headers
        ).json()
        assert len(listed) == ROUNDS == len({c["id"] for c in listed})


def test_a_burst_of_parties_in_one_place(world: World) -> None:
    """Four submissions from each of two parties at once: 4 × 4 conflicts, each recorded once."""
    per_party = 4
    tasks = [
        _submitter(world, party, 40.0 + i * 0.001, 35.0)
        for party in (world.north, world.south)
        for i in range(per_party)
    ]
    results = _run_together(tasks)
    owner = {r["id"]: r["party"]["code"] for r in results}
    expected = {
        tuple(sorted((a, b)))
        for a in owner
        for b in owner
        if owner[a] == "NORTH" and owner[b] == "SOUTH"
    }
    assert len(expected) == per_party * per_party
    recorded = _recorded_pairs(world.db)
    assert set(recorded) == expected
    assert all(count == 1 for count in recorded.values()), recorded
    # Every conflict was reported to exactly one submitter: the one that committed later.
    reported = Counter(c["id"] for r in results for c in r["conflicts"])
    assert len(reported) == per_party * per_party and set(reported.values()) == {1}


def test_concurrent_revisions_of_one_version_one_wins(world: World) -> None:
    created = world.notify(world.north, simple(world.clock, circle(37.0, 36.5)))
    path = f"/v1/notifications/{created['id']}"
    headers = {**world.north.headers, "If-Match": '"1"'}

    def revise(lon: float) -> Callable[[], Any]:
        body = simple(world.clock, circle(lon, 36.5), title=f"to {lon}")
        return lambda: world.client.put(path, json=body, headers=headers)

    for round_no in range(5):
        headers["If-Match"] = f'"{round_no + 1}"'
        responses = _run_together([revise(37.0 + 0.01 * i) for i in range(4)])
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 412, 412, 412], [r.text for r in responses]
        assert all(
            r.json()["current_version"] == round_no + 2 for r in responses if r.status_code == 412
        )
    revisions = world.client.get(f"{path}/revisions", headers=world.north.headers).json()
    assert [r["version"] for r in revisions] == list(range(1, 7))


def test_one_idempotency_key_from_many_threads_creates_one_notification(world: World) -> None:
    body = simple(world.clock, circle(37.0, 36.5))
    headers = {**world.north.headers, "Idempotency-Key": "retry-storm"}

    def post() -> Any:
        return world.client.post(world.notifications_url(), json=body, headers=headers)

    responses = _run_together([post] * 6)
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert world.db.rows("SELECT count(*) FROM notifications") == [(1,)]


def test_one_idempotency_key_from_many_threads_creates_one_party(world: World) -> None:
    """No mechanism to serialise on: the key itself makes the retries wait for each other."""
    headers = {**world.operator, "Idempotency-Key": "party-storm"}
    body = {"name": "party ZULU", "code": "ZULU"}

    def post() -> Any:
        return world.client.post("/v1/parties", json=body, headers=headers)

    responses = _run_together([post] * 6)
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert world.db.rows("SELECT count(*) FROM parties WHERE code = ?", ("ZULU",)) == [(1,)]
