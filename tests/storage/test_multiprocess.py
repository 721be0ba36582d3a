"""Several API processes on one database — a PostgreSQL database, or one SQLite file: two real
`deconfliction serve` processes (one signing key file, one operator token) record each conflict
of simultaneous notifications once, stream every event to a client of either process and resume
it on the other, send each webhook once, remind of a deadline once, and leave a log that
verifies. PostgreSQL's event wake-ups are checked on their own.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api.webhook_receiver import Receiver
from backends import Database, Databases
from cli.servers import CLI, call_api, server_env, serving

from deconfliction.storage.postgres.store import PostgresStore

OPERATOR = "operator-token-for-the-two-process-test-0001"
A, B = 0, 1  # the two servers
ROUNDS = 12
WRITES = 10
WAIT_S = 20.0  # the longest any wait for something asynchronous may take
START = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)


@dataclass
class Pair:
    """Two servers on one database, and NORTH and SOUTH, members of one mechanism."""

    database: Database
    urls: list[str]
    mechanism: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    parties: dict[str, str] = field(default_factory=dict)

    def api(self, server: int, method: str, path: str, who: str, **kwargs: Any) -> Any:
        token = OPERATOR if who == "operator" else self.tokens[who]
        return call_api(self.urls[server], method, path, token, **kwargs)

    def notify(self, server: int, who: str, lon: float) -> Any:
        volume = {
            "area": {"type": "Circle", "center": [lon, 36.0], "radius": 5_000},
            "altitude": {"lower": 0, "upper": 3000, "units": "m", "reference": "AMSL"},
            "start": START.isoformat(),
            "end": (START + timedelta(hours=2)).isoformat(),
        }
        body = {"kind": "air", "title": f"{who} sortie", "volumes": [volume]}
        return self.api(
            server, "POST", f"/v1/mechanisms/{self.mechanism}/notifications", who, json=body
        )

    def events(self, server: int, who: str, after: int) -> list[int]:
        page = self.api(server, "GET", "/v1/events", who, params={"after": after, "limit": 1000})
        return [event["id"] for event in page["events"]]


@pytest.fixture
def pair(tmp_path: Path, databases: Databases) -> Iterator[Pair]:
    database = databases.new()
    env = {
        **server_env(database, OPERATOR),
        "DECONFLICTION_WEBHOOK_ALLOW_PRIVATE": "true",
        # Both processes sign tree heads as often as they may: they must not sign one size twice.
        "DECONFLICTION_LOG_HEAD_INTERVAL_S": "0.05",
        "DECONFLICTION_SCHEDULER_INTERVAL_S": "0.05",
    }
    # One after the other: the first creates the signing key the second then reads.
    with (
        serving(env, tmp_path, tmp_path / "a.log") as a,
        serving(env, tmp_path, tmp_path / "b.log") as b,
    ):
        served = Pair(database, [a, b])
        served.mechanism = served.api(A, "POST", "/v1/mechanisms", "operator", json={"name": "L"})[
            "id"
        ]
        for code in ("NORTH", "SOUTH"):
            party = served.api(
                B, "POST", "/v1/parties", "operator", json={"name": code, "code": code}
            )
            served.parties[code] = party["id"]
            served.api(
                A,
                "POST",
                f"/v1/mechanisms/{served.mechanism}/members",
                "operator",
                json={"party_id": party["id"]},
            )
            token = served.api(
                B, "POST", f"/v1/parties/{party['id']}/tokens", "operator", json={"label": "desk"}
            )
            served.tokens[code] = token["token"]
        yield served
    # Afterwards, with both servers stopped: the log the two of them wrote verifies.
    result = subprocess.run(
        [*CLI, "audit", "verify", "--db", database.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not database.rows(
        "SELECT tree_size FROM log_heads GROUP BY tree_size HAVING count(*) > 1"
    ), "two tree heads of one size"


def test_simultaneous_notifications_at_both_processes_conflict_once(pair: Pair) -> None:
    barrier = threading.Barrier(2, timeout=WAIT_S)

    def at_once(server: int, who: str, lon: float) -> Any:
        barrier.wait()
        return pair.notify(server, who, lon)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for round_ in range(ROUNDS):
            lon = 30.0 + round_  # rounds ~90 km apart: a pair conflicts only with itself
            north = pool.submit(at_once, A, "NORTH", lon)
            south = pool.submit(at_once, B, "SOUTH", lon + 0.02)
            answers = [north.result(timeout=60), south.result(timeout=60)]
            barrier.reset()
            ids = {answer["id"] for answer in answers}
            # The later of the two saw the earlier and recorded the conflict; the earlier, none.
            listed = sorted(len(answer["conflicts"]) for answer in answers)
            assert listed == [0, 1], answers
            (conflict,) = (c for answer in answers for c in answer["conflicts"])
            for who, server in (("NORTH", B), ("SOUTH", A)):
                views = pair.api(server, "GET", "/v1/conflicts", who, params={"limit": 1000})
                theirs = [v for v in views if v["own_notification"] in ids]
                assert [v["id"] for v in theirs] == [conflict["id"]], (who, theirs)
                assert theirs[0]["other_notification"] in ids
    assert pair.database.rows("SELECT count(*) FROM conflicts") == [(ROUNDS,)]


@contextmanager
def stream(url: str, token: str, last_event_id: int) -> Iterator[Iterator[str]]:
    """A party's `GET /v1/events` stream on one server, resumed after an id: its lines, from
    the first after the opening comment (the stream is subscribed by then)."""
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": str(last_event_id)}
    # A read waits longer than the server's 15 s between keep-alives.
    with (
        httpx.Client(timeout=WAIT_S) as client,
        client.stream("GET", url + "/v1/events", headers=headers) as response,
    ):
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()
        assert next(lines).startswith(": events after")
        yield lines


def next_ids(lines: Iterator[str], count: int) -> list[int]:
    """The ids of the next `count` events of a stream (fewer if they take over WAIT_S)."""
    ids: list[int] = []
    deadline = time.monotonic() + WAIT_S
    for line in lines:  # a keep-alive at least every 15 s: the deadline is checked
        if line.startswith("data:"):
            ids.append(json.loads(line[5:])["id"])
        if len(ids) == count or time.monotonic() > deadline:
            break
    return ids


def test_a_stream_on_one_process_gets_the_writes_of_the_other_and_resumes_on_it(
    pair: Pair,
) -> None:
    def write(server: int, lon: float) -> None:  # two conflicting notifications: both see events
        pair.notify(server, "SOUTH", lon)
        pair.notify(server, "NORTH", lon + 0.02)

    start = pair.api(A, "GET", "/v1/events", "NORTH", params={"after": 0})["last_event_id"]
    with stream(pair.urls[A], pair.tokens["NORTH"], start) as lines:
        for i in range(WRITES):  # through B only, while NORTH listens on A
            write(B, 40.0 + i)
        expected = pair.events(B, "NORTH", start)
        assert len(expected) >= 2 * WRITES
        assert next_ids(lines, len(expected)) == expected  # in order, nothing missing
        write(B, 39.0)
        (after,) = pair.events(B, "NORTH", expected[-1])[:1]
        assert next_ids(lines, 1) == [after]  # and nothing sent twice in between
    for i in range(WRITES):  # while no stream is open, through A
        write(A, 50.0 + i)
    rest = pair.events(A, "NORTH", after)
    with stream(pair.urls[B], pair.tokens["NORTH"], after) as lines:
        assert next_ids(lines, len(rest)) == rest  # resumed on B: exactly what was missed
        write(A, 60.0)
        (later,) = pair.events(A, "NORTH", rest[-1])[:1]
        assert next_ids(lines, 1) == [later]


def test_each_event_reaches_a_webhook_once_although_both_processes_deliver(pair: Pair) -> None:
    receiver = Receiver().start()
    try:
        hook = pair.api(A, "POST", "/v1/webhooks", "NORTH", json={"url": receiver.url})
        receiver.secret = hook["secret"]
        start = pair.api(B, "GET", "/v1/events", "NORTH", params={"after": 0})["last_event_id"]

        def write(i: int) -> None:
            pair.notify(
                i % 2, "NORTH" if i % 4 < 2 else "SOUTH", 60.0 + i // 4 + (i % 4 >= 2) * 0.02
            )

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(write, range(4 * WRITES)))
        expected = pair.events(A, "NORTH", start)
        assert receiver.wait_for_events(len(expected), timeout=WAIT_S), receiver.event_ids
        time.sleep(1.0)  # a second send of any event would arrive now
        assert receiver.event_ids == expected  # in order
        assert len(receiver.arrivals) == len(set(receiver.arrivals)) == len(expected)
        assert not receiver.rejected
    finally:
        receiver.stop()


def test_a_deadline_passed_is_reminded_once_although_both_processes_schedule(pair: Pair) -> None:
    due = datetime.now(UTC) + timedelta(seconds=2)
    body = {
        "to": [pair.parties["NORTH"]],
        "type": "query",
        "body": "Are you receiving?",
        "ack_deadline": due.isoformat(),
    }
    message = pair.api(A, "POST", f"/v1/mechanisms/{pair.mechanism}/messages", "SOUTH", json=body)

    def of_message(who: str, kind: str) -> list[Any]:
        page = pair.api(B, "GET", "/v1/events", who, params={"after": 0, "limit": 1000})
        return [e for e in page["events"] if e["type"] == kind and e["subject_id"] == message["id"]]

    deadline = time.monotonic() + WAIT_S
    while not of_message("NORTH", "line.reminder") and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # both schedulers step every 50 ms: a second reminder would be here by now
    assert len(of_message("NORTH", "line.reminder")) == 1
    assert len(of_message("SOUTH", "line.overdue")) == 1


@pytest.mark.postgres_only
def test_the_store_wakes_its_watchers_after_each_commit_that_stored_events(
    databases: Databases,
) -> None:
    database = databases.new()
    watching, writing = PostgresStore(database.url), PostgresStore(database.url)
    woken = threading.Semaphore(0)
    stop = watching.watch_events(woken.release)
    try:
        assert woken.acquire(timeout=WAIT_S), "no wake-up once listening"
        with writing.write() as tx:
            tx.insert_mechanism(
                {
                    "id": "mec_a",
                    "name": "A",
                    "area_json": None,
                    "rules_json": "{}",
                    "created_at": "2031-05-01T06:00:00Z",
                }
            )
        assert not woken.acquire(timeout=0.5), "woken by a commit that stored no event"
        event = {
            "mechanism_id": "mec_a",
            "type": "test",
            "subject_id": "s",
            "audience_json": "[]",
            "payload_json": "{}",
            "created_at": "2031-05-01T06:00:00Z",
            "token_id": None,
        }
        with pytest.raises(RuntimeError), writing.write() as tx:
            tx.append_event(event, [], [])
            raise RuntimeError("rolled back")
        assert not woken.acquire(timeout=0.5), "woken by a rolled-back transaction"
        with writing.write() as tx:
            tx.append_event(event, [], [])
            tx.append_event(event, [], [])
        assert woken.acquire(timeout=WAIT_S), "not woken by a commit that stored events"
        assert not woken.acquire(timeout=0.5), "woken twice by one commit"
    finally:
        stop()
        watching.close()
        writing.close()
