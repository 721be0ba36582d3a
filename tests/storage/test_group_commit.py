"""Group commit in the SQLite store: use cases queued for the writer share a commit, yet each
stays atomic, a failed one leaves the others of its group intact, none returns before its
writes are durable, and a failed commit fails every use case of the group. Across processes a
group waits for the writer lock another holds, gives it back however it ends, and two processes
writing one file at once lose nothing; the lock file takes the database file's permissions."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deconfliction.storage.sqlite.group_commit import MAX_GROUP
from deconfliction.storage.sqlite.store import SqliteStore
from deconfliction.storage.sqlite.writer_lock import lock_path_for

pytestmark = pytest.mark.sqlite_only(reason="SQLite's own writer; PostgreSQL has no group commit")


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "g.db")
    with store.write() as tx:
        tx.db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
        tx.db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        tx.db.execute(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER "
            "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
        )
    return store


def committed(store: SqliteStore) -> dict[str, int]:
    """What another connection sees: only committed rows."""
    other = sqlite3.connect(store.path)
    try:
        return dict(other.execute("SELECT k, v FROM t").fetchall())
    finally:
        other.close()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def grouped(store: SqliteStore, first: Callable[[], None], others: list[Callable[[], None]]):
    """Run `first` in a use case that holds the writer until every one of `others` (each in a
    thread of its own) is queued behind it, so they form one group. Returns each outcome."""
    outcomes: dict[int, BaseException | None] = {}
    release = threading.Event()

    def run(i: int, body: Callable[[], None], hold: bool) -> None:
        try:
            with store.write():
                if hold:
                    release.wait(10)
                body()
            outcomes[i] = None
        except BaseException as error:  # noqa: BLE001 - the outcome is what is tested
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(0, first, True))]
    threads[0].start()
    wait_until(lambda: store._writes._busy)
    for i, body in enumerate(others, start=1):
        threads.append(threading.Thread(target=run, args=(i, body, False)))
        threads[-1].start()
    wait_until(lambda: store._writes._waiting == len(others))
    release.set()
    for thread in threads:
        thread.join(10)
    return outcomes


def writer_lock_is_free(store: SqliteStore) -> bool:
    """Whether another process could take the store's writer lock now."""
    fd = os.open(lock_path_for(store.path), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing gives up a lock taken
    return True


def insert(store: SqliteStore, key: str, value: int) -> Callable[[], None]:
    return lambda: store._writer.execute("INSERT INTO t VALUES (?, ?)", (key, value))


def test_queued_use_cases_share_one_commit_and_all_land(store: SqliteStore) -> None:
    groups_before = store._writes._group
    outcomes = grouped(store, insert(store, "a", 1), [insert(store, "b", 2), insert(store, "c", 3)])
    assert outcomes == {0: None, 1: None, 2: None}
    assert committed(store) == {"a": 1, "b": 2, "c": 3}
    assert store._writes._group == groups_before + 1  # one transaction, one commit


def test_a_failed_use_case_is_undone_alone(store: SqliteStore) -> None:
    def half_then_fail() -> None:
        store._writer.execute("INSERT INTO t VALUES ('half', 0)")
        raise ValueError("bad input")

    outcomes = grouped(store, insert(store, "a", 1), [half_then_fail, insert(store, "c", 3)])
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert committed(store) == {"a": 1, "c": 3}  # nothing of the failed one, all of the rest


def test_a_constraint_error_is_undone_alone(store: SqliteStore) -> None:
    outcomes = grouped(store, insert(store, "a", 1), [insert(store, "a", 2), insert(store, "b", 2)])
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert committed(store) == {"a": 1, "b": 2}


def test_a_failed_commit_fails_every_use_case_of_its_group(store: SqliteStore) -> None:
    def orphan() -> None:  # a deferred foreign key: only COMMIT can refuse it
        store._writer.execute("INSERT INTO child VALUES (1, 999)")

    outcomes = grouped(store, insert(store, "a", 1), [orphan, insert(store, "b", 2)])
    assert all(isinstance(outcomes[i], sqlite3.OperationalError) for i in (0, 1, 2)), outcomes
    assert committed(store) == {}
    assert writer_lock_is_free(store)
    with store.write():  # the store goes on working
        insert(store, "after", 1)()
    assert committed(store) == {"after": 1}


def test_no_use_case_returns_before_its_writes_are_committed(store: SqliteStore) -> None:
    seen: dict[str, dict[str, int]] = {}

    def write_then_look(key: str) -> None:
        with store.write():
            insert(store, key, 1)()
        seen[key] = committed(store)

    threads = [threading.Thread(target=write_then_look, args=(f"k{i}",)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == 40
    for key, rows in seen.items():
        assert key in rows  # durable (visible to another connection) when write() returned


def test_a_group_never_exceeds_its_bound(store: SqliteStore) -> None:
    groups_before = store._writes._group
    others = [insert(store, f"k{i}", i) for i in range(MAX_GROUP + 3)]
    outcomes = grouped(store, insert(store, "first", 0), others)
    assert all(outcome is None for outcome in outcomes.values())
    assert len(committed(store)) == MAX_GROUP + 4
    assert store._writes._group >= groups_before + 2  # the queue was split into two commits


def test_a_write_waits_for_the_writer_lock_another_process_holds(store: SqliteStore) -> None:
    # flock locks belong to an open file: one opened here conflicts as another process's would.
    other = os.open(lock_path_for(store.path), os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        outcome: list[BaseException | None] = []

        def write() -> None:
            try:
                with store.write():
                    insert(store, "k", 1)()
                outcome.append(None)
            except BaseException as error:  # noqa: BLE001 - the outcome is what is tested
                outcome.append(error)

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and committed(store) == {}  # waiting, not failed, not written
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    writer.join(10)
    assert outcome == [None] and committed(store) == {"k": 1}
    assert writer_lock_is_free(store)  # given back after the commit


def test_work_ahead_is_free_while_this_process_waits_for_another_processes_writer_only(
    store: SqliteStore,
) -> None:
    assert not store.work_ahead_is_free()  # nobody writes: a write would start at once
    with store.write():
        assert not store.work_ahead_is_free()  # this process writes
    assert not store.work_ahead_is_free()  # committed, the writer given back
    other = os.open(lock_path_for(store.path), os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)  # another process holds the writer

        def write() -> None:
            with store.write():
                insert(store, "k", 1)()

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.3)
        assert writer.is_alive() and store.work_ahead_is_free()  # waiting for it
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    writer.join(10)
    assert committed(store) == {"k": 1} and not store.work_ahead_is_free()


WRITER = """
import sys, threading
from deconfliction.storage.sqlite.store import SqliteStore
store = SqliteStore(sys.argv[1])
def run(thread):
    for i in range(50):
        with store.write() as tx:
            tx.db.execute("INSERT INTO t VALUES (?, ?)", (f"{sys.argv[2]}-{thread}-{i}", i))
threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_two_processes_writing_one_file_at_once_lose_nothing(store: SqliteStore) -> None:
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store.path), name], stderr=subprocess.PIPE
        )
        for name in ("p", "q")
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0, errors.decode()
    rows = committed(store)
    assert len(rows) == 2 * 4 * 50
    assert {key.split("-")[0] for key in rows} == {"p", "q"}


def test_the_writer_lock_file_has_the_databases_permissions(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    sqlite3.connect(path).close()
    path.chmod(0o640)
    SqliteStore(path).close()
    assert lock_path_for(path).stat().st_mode & 0o777 == 0o640
