"""The write-ahead log is checkpointed beside the writer, not inside its commits: a commit leaves
the pages it wrote in the log however many there are (short of the writer's fallback), and the
store's checkpoint thread moves them into the database file soon after. What is in the database
file itself is read with SQLite's `immutable` mode, which ignores the log."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from deconfliction.storage.sqlite import checkpoints
from deconfliction.storage.sqlite.store import SqliteStore

pytestmark = pytest.mark.sqlite_only(reason="SQLite's write-ahead log")

ROWS = 600  # of 16 KiB each: ~2,400 pages of 4 KiB, past SQLite's default checkpoint of 1,000


def in_database_file(path: Path) -> int:
    """The rows of the filler table in the database file alone, the log not read."""
    file = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        tables = file.execute("SELECT name FROM sqlite_master WHERE name = 'filler'").fetchall()
        return int(file.execute("SELECT count(*) FROM filler").fetchone()[0]) if tables else 0
    finally:
        file.close()


def fill(store: SqliteStore) -> None:
    """Commit ROWS rows of 16 KiB, a group at a time, each write its own commit."""
    with store.write() as tx:
        tx.db.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
    for i in range(ROWS):
        with store.write() as tx:
            tx.db.execute("INSERT INTO filler VALUES (?, randomblob(16384))", (i,))


def test_commits_leave_their_pages_in_the_log_for_the_checkpoint_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "EVERY_S", 3600.0)  # the thread waits: nothing moves
    store = SqliteStore(tmp_path / "c.db")
    try:
        fill(store)
        assert in_database_file(store.path) == 0  # SQLite itself would have moved ~2,000 pages
        pages = store._writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert pages == checkpoints.WRITER_FALLBACK_PAGES
    finally:
        store.close()


def test_the_checkpoint_thread_moves_committed_pages_into_the_database_file(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "c.db")
    try:
        fill(store)
        deadline = time.monotonic() + 10.0
        while not _all_in_database_file(store.path):
            assert time.monotonic() < deadline, "the log was not checkpointed"
            time.sleep(0.05)
    finally:
        store.close()


def _all_in_database_file(path: Path) -> bool:
    """Whether the database file alone holds every row; False while a checkpoint is writing the
    file, which a read in `immutable` mode may then find torn."""
    try:
        return in_database_file(path) == ROWS
    except sqlite3.DatabaseError:
        return False


def test_a_close_between_the_wait_and_the_clear_still_stops_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once, a suite run hung here: the thread cleared the nudge that close() had just given,
    # then waited for another nudge for ever while close() joined it.
    checkpointer = checkpoints.Checkpointer(lambda: sqlite3.connect(tmp_path / "t.db"))
    nudged = checkpointer._nudged
    clear = nudged.clear

    def close_lands_before_clear() -> None:  # what close() does before it joins the thread
        checkpointer._closing.set()
        nudged.set()
        clear()

    monkeypatch.setattr(nudged, "clear", close_lands_before_clear)
    nudged.set()  # a commit's nudge: the thread waits EVERY_S, then clears the nudge
    checkpointer._thread.join(timeout=10 * checkpoints.EVERY_S + 5)
    assert not checkpointer._thread.is_alive()
