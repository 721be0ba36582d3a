"""The PostgreSQL store's own guarantees: the candidate query searches the composite GiST index,
writers in one mechanism wait for each other and writers in different mechanisms do not, event
ids and log indexes are gap-free and committed in order, locks are taken in one order, and two
processes opening a new database migrate it once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from backends import Database, Databases
from nacl.signing import SigningKey

from deconfliction.proof.tree_head import key_id
from deconfliction.services import ledger
from deconfliction.services.events import record_event
from deconfliction.storage.postgres.locks import LockOrderError
from deconfliction.storage.postgres.migrations import MIGRATIONS, migrate
from deconfliction.storage.postgres.store import CANDIDATES, PostgresStore

pytestmark = pytest.mark.postgres_only

AT = "2031-05-01T06:00:00Z"
NOW = datetime(2031, 5, 1, 6, 0, tzinfo=UTC)
WAIT_S = 0.5  # long enough for a blocked writer to show it is blocked


@pytest.fixture
def database(databases: Databases) -> Database:
    return databases.new()


@pytest.fixture
def store(database: Database) -> Iterator[PostgresStore]:
    opened = PostgresStore(database.url)
    with opened.write() as tx:
        for mechanism in ("mec_a", "mec_b"):
            tx.insert_mechanism(
                {
                    "id": mechanism,
                    "name": mechanism,
                    "area_json": None,
                    "rules_json": "{}",
                    "created_at": AT,
                }
            )
    yield opened
    opened.close()


def event(mechanism: str) -> dict[str, Any]:
    return {
        "mechanism_id": mechanism,
        "type": "test",
        "subject_id": "s",
        "audience_json": "[]",
        "payload_json": "{}",
        "created_at": AT,
        "token_id": None,
    }


def test_the_candidate_query_searches_the_composite_gist_index(database: Database) -> None:
    PostgresStore(database.url).close()
    # 4,000 small boxes spread over the unit cube, an hour each over ~4 weeks, in 3 mechanisms.
    database.rows(
        "INSERT INTO volumes (notification_id, mechanism_id, party_id, idx, radius_m, "
        "centre_lon, centre_lat, lower_m, upper_m, reference, start_ts, end_ts, core_wkb, area, "
        "altitude, span) SELECT 'ntf_' || i, 'mec_' || (i % 3), 'pty_' || (i % 5), 0, 1000, 0, "
        "0, 0, 1000, 'AMSL', 1.9e9 + i * 600, 1.9e9 + i * 600 + 3600, '', "
        "ST_MakeLine(ST_MakePoint(x, y, z), ST_MakePoint(x + 1e-3, y + 1e-3, z + 1e-3)), "
        "floatrange(0, 1000, '[]'), floatrange(1.9e9 + i * 600, 1.9e9 + i * 600 + 3600, '[]') "
        "FROM (SELECT i, random() AS x, random() AS y, random() AS z "
        "FROM generate_series(1, 4000) i) s"
    )
    database.rows("ANALYZE volumes")
    box = (0.5, 0.5, 0.5, 0.51, 0.51, 0.51, 0.0, 500.0, 1.9e9, 1.9e9 + 86_400)
    plan = database.rows(f"EXPLAIN {CANDIDATES}", ("mec_1", *box, "pty_0"))
    text = "\n".join(line for (line,) in plan)
    assert "volumes_box" in text, text
    assert "Seq Scan" not in text, text


def test_writers_in_one_mechanism_wait_for_each_other_and_others_do_not(
    store: PostgresStore,
) -> None:
    holding, release = threading.Event(), threading.Event()
    finished: dict[str, float] = {}

    def first() -> None:
        with store.write() as tx:
            tx.mechanism("mec_a")
            holding.set()
            release.wait(10)

    def writer(name: str, mechanism: str) -> None:
        with store.write() as tx:
            tx.mechanism(mechanism)
        finished[name] = time.monotonic()

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert holding.wait(10)
    for name, mechanism in (("same", "mec_a"), ("other", "mec_b")):
        threads.append(threading.Thread(target=writer, args=(name, mechanism)))
        threads[-1].start()
    time.sleep(WAIT_S)
    assert "other" in finished and "same" not in finished
    release.set()
    for thread in threads:
        thread.join(10)
    assert "same" in finished


def test_event_ids_are_given_in_commit_order_across_mechanisms(store: PostgresStore) -> None:
    """A second writer reaches its own mechanism at once, but its event waits for the first's
    commit, so ids never commit out of order (the live stream resumes after the last id)."""
    appended, release, locked_b = threading.Event(), threading.Event(), threading.Event()
    ids: dict[str, int] = {}

    def first() -> None:
        with store.write() as tx:
            ids["first"] = tx.append_event(event("mec_a"), [], [])
            appended.set()
            release.wait(10)

    def second() -> None:
        with store.write() as tx:
            tx.mechanism("mec_b")
            locked_b.set()
            ids["second"] = tx.append_event(event("mec_b"), [], [])

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert appended.wait(10)
    threads[1].start()
    assert locked_b.wait(10)
    time.sleep(WAIT_S)
    assert "second" not in ids
    release.set()
    for thread in threads:
        thread.join(10)
    assert ids == {"first": 1, "second": 2}


def test_a_writer_whose_events_wait_for_its_commit_holds_up_no_other_mechanism(
    store: PostgresStore,
) -> None:
    """A use case's events are appended at its end (storage/deferred.py), so the log lock every
    writer shares is not held while it goes on deciding — a writer of another mechanism that
    records and commits meanwhile is not held up; the ids follow the commits."""
    recorded, release = threading.Event(), threading.Event()
    ids: dict[str, int] = {}

    def first() -> None:
        with store.write() as tx:
            tx.mechanism("mec_a")
            event_a = record_event(tx, "mec_a", "test", "a", [], {}, AT)
            recorded.set()
            release.wait(10)
        ids["first"] = event_a.event_id

    def second() -> None:
        with store.write() as tx:
            tx.mechanism("mec_b")
            event_b = record_event(tx, "mec_b", "test", "b", [], {}, AT)
        ids["second"] = event_b.event_id

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert recorded.wait(10)
    threads[1].start()
    threads[1].join(10)
    assert ids == {"second": 1}
    release.set()
    threads[0].join(10)
    assert ids == {"second": 1, "first": 2}
    with store.read() as tx:
        assert [e["subject_id"] for e in tx.log_entries(0, 10)] == ["b", "a"]


def test_a_failing_statement_sent_pipelined_fails_its_write_and_nothing_else(
    store: PostgresStore,
) -> None:
    """After the log lock, statements go pipelined: an error of one whose result is not read
    still fails the write (here an event id already taken), the write leaves nothing, and the
    pooled connection serves the next write."""
    with store.write() as tx:
        tx.append_event(event("mec_a"), [], [])
    with pytest.raises(psycopg.errors.UniqueViolation), store.write() as tx:
        tx.append_event(event("mec_a"), [], [])  # the log lock: pipelined from here
        assert tx.db.pipeline is not None
        tx.db.execute(
            "INSERT INTO events (id, mechanism_id, type, subject_id, audience_json, payload_json, "
            "created_at) VALUES (1, 'mec_a', 'test', 's', '[]', '{}', ?)",
            (AT,),
        )
        tx.append_event(event("mec_a"), [], [])
    with pytest.raises(RuntimeError, match="after the appends"), store.write() as tx:
        tx.append_event(event("mec_a"), [], [])
        raise RuntimeError("a use case failing after the appends")
    with store.write() as tx:
        assert tx.append_event(event("mec_a"), [], []) == 2
    with store.read() as tx:
        assert [e["id"] for e in tx.events_after(None, "", 0, 10)] == [1, 2]


def test_reads_are_read_only_and_keep_the_connections_prepared_statements(
    database: Database,
) -> None:
    """A read is committed, not rolled back: psycopg forgets (and deallocates) a connection's
    prepared statements on every rollback, so rolled-back reads left none prepared and every
    statement was parsed and planned again. Being READ ONLY, a read still cannot write."""
    one_connection = PostgresStore(database.url, pool_size=1)
    try:
        for _ in range(8):  # psycopg prepares a statement at its 6th execution
            with one_connection.read() as tx:
                tx.mechanism("mec_a")
        with one_connection.read() as tx:
            prepared = [r[0] for r in tx.db.execute("SELECT statement FROM pg_prepared_statements")]
        assert "SELECT * FROM mechanisms WHERE id = $1" in prepared
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), one_connection.read() as tx:
            tx.db.execute("DELETE FROM mechanisms")
    finally:
        one_connection.close()


def test_concurrent_writers_leave_gap_free_event_ids_and_log_indexes(
    store: PostgresStore,
) -> None:
    def write(i: int) -> None:
        mechanism = ("mec_a", "mec_b")[i % 2]
        with store.write() as tx:
            tx.append_event(event(mechanism), [], [])
            tx.append_log_entry(
                {
                    "kind": "test",
                    "mechanism_id": mechanism,
                    "subject_id": f"s{i}",
                    "entry_json": "{}",
                    "salt": b"salt",
                    "leaf_hash": bytes(32),
                    "created_at": AT,
                },
                [],
            )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with store.read() as tx:
        assert [e["id"] for e in tx.events_after(None, "", 0, 100)] == list(range(1, 17))
        assert [e["idx"] for e in tx.log_entries(0, 100)] == list(range(16))


def test_what_is_due_is_read_in_a_write_one_mechanism_at_a_time_holding_up_no_other(
    store: PostgresStore,
) -> None:
    """The scheduler's step processes each mechanism in a transaction of its own: reading what
    is due in one mechanism waits for no writer of another (it used to take every mechanism at
    once), and a write that asks for what is due everywhere is refused as a bug."""
    holding, release = threading.Event(), threading.Event()

    def writer_of_a() -> None:
        with store.write() as tx:
            tx.mechanism("mec_a")
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer_of_a)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with store.write() as tx:
            assert tx.due_inbox_items(time.time(), 10, "mec_b") == []
            assert tx.locks.mechanisms == {"mec_b"}  # read under its own mechanism's lock
        assert time.monotonic() - started < 5  # not held up by the writer of mec_a
        with pytest.raises(LockOrderError), store.write() as tx:
            tx.due_inbox_items(time.time(), 10)
    finally:
        release.set()
        thread.join(10)


def test_a_mechanism_lock_after_the_log_lock_is_refused(store: PostgresStore) -> None:
    with pytest.raises(LockOrderError), store.write() as tx:
        tx.append_event(event("mec_a"), [], [])
        tx.mechanism("mec_b")


def test_two_processes_opening_a_new_database_migrate_it_once(database: Database) -> None:
    with psycopg.connect(database.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database.name}_blank TEMPLATE template0")
    blank = database.url + "_blank"
    try:
        results: list[list[int]] = []
        threads = [
            threading.Thread(target=lambda: results.append(migrate(blank))) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        # Each version once, by whichever process came to it first.
        versions = [version for version, _, _ in MIGRATIONS]
        assert sorted(results[0] + results[1]) == versions
        assert migrate(blank) == []
        with psycopg.connect(blank) as migrated:
            rows = migrated.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert [version for (version,) in rows] == versions
    finally:
        with psycopg.connect(database.url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {database.name}_blank WITH (FORCE)")


def test_two_processes_registering_a_new_logs_key_at_once_record_it_once(
    database: Database, store: PostgresStore
) -> None:
    """Each process, starting on a new log, registers the key in a write that reads the keys
    first; the second waits for the first's commit and finds the key there (it used to insert
    it again and fail on the primary key)."""
    other = PostgresStore(database.url)  # another process's store
    key = SigningKey(b"\x05" * 32)
    registered: dict[str, bool] = {}
    first_in = threading.Event()

    def first() -> None:
        with store.write() as tx:
            registered["first"] = ledger.register_key(tx, key, NOW)
            first_in.set()
            time.sleep(WAIT_S)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert first_in.wait(10)
        with other.write() as tx:
            registered["second"] = ledger.register_key(tx, key, NOW)
    finally:
        thread.join(10)
        other.close()
    assert registered == {"first": True, "second": False}
    with store.read() as tx:
        assert [row["key_id"] for row in tx.service_keys()] == [key_id(key.verify_key)]
