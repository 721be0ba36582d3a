"""The advisory locks that serialise PostgreSQL writers, in the one order that cannot deadlock.

A write transaction takes, as it goes and each at most once, until it commits:

1. one lock per mechanism it decides something in, before the first read that decides it;
   writers in different mechanisms do not wait for each other (the scheduler's step, which finds
   work in several mechanisms, processes each in a transaction of its own);
2. `log`, global, just before its first event or log entry, or its reading of the newest tree
   head in a write (which may sign the next): the line's event ids and the transparency log's
   leaf indexes are then assigned one transaction at a time, so both are gap-free and committed
   in increasing order (what the event stream's resume and the log's `MAX(idx) + 1` rely on),
   and no two tree heads cover the same size. This lock serialises the last step of every
   writer, whatever its mechanism: it is held from the first append to the commit. A use case
   makes its appends last (storage/deferred.py) and sends them pipelined, so that step is short.

Asking for an earlier lock after a later one would risk a deadlock, so it is refused as a bug.

A background step that must run in one process at a time (signing tree heads) first tries its
own lock (`pg_try_advisory_xact_lock`): it never waits, so it closes no cycle, and a process that
does not get it skips the step, another being busy with it.

Besides these, a request with an Idempotency-Key takes that key's lock before looking it up, so
two retries of one request run one after the other and the second replays the first. Only
retries of the same request wait for it, and they take their other locks in the same order, so
it closes no cycle; it is never taken after the log lock.
"""

from __future__ import annotations

import hashlib
from typing import Any

from deconfliction.storage.committed_log import CommittedLog
from deconfliction.storage.postgres.connection import Sql
from deconfliction.storage.sqlite.rows import one


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for an advisory lock named by text."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


LOG = lock_key("deconfliction:log")
MIGRATIONS = lock_key("deconfliction:migrations")

# How many of the log's newest leaves a write's receipt may need: those of the log's last,
# incomplete block (services/ledger.py caches the hashes of complete blocks of 16 leaves).
RECENT_LEAVES = 16

# The newest leaves this process does not know, read with the log lock: mostly another
# process's, whose hashes the receipt's walk needs.
UNKNOWN_RECENT_LEAVES = (
    "SELECT idx, leaf_hash FROM log_entries WHERE idx > ? "
    "AND idx >= (SELECT coalesce(max(idx) + 1, 0) FROM log_entries) - ?"
)


class LockOrderError(RuntimeError):
    """A transaction asked for a lock after one that must come later (a bug, not bad input)."""


class Locks:
    """The advisory locks one write transaction holds."""

    def __init__(self, db: Sql, committed_log: CommittedLog) -> None:
        self.db = db
        self.committed_log = committed_log
        self.mechanisms: set[str] = set()
        self.log = False
        self._ends_query: Any = None  # the pipelined read of the log's ends, sent with the lock
        self._ends: tuple[int, int] | None = None  # the newest event id and the log's size
        self._leaves_query: Any = None  # the pipelined read of the newest leaves, sent with it

    def mechanism(self, mechanism_id: str) -> bool:
        """Hold the mechanism's lock; True if it was taken now (the caller may have waited)."""
        if mechanism_id in self.mechanisms:
            return False
        if self.log:
            raise LockOrderError(f"mechanism {mechanism_id} locked after the log")
        self.db.execute("SELECT pg_advisory_xact_lock(?)", (lock_key(mechanism_id),))
        self.mechanisms.add(mechanism_id)
        return True

    def request(self, token_id: str, key: str) -> None:
        """Hold the lock of one token's Idempotency-Key."""
        if self.log:
            raise LockOrderError("an idempotency key locked after the log")
        self.db.execute("SELECT pg_advisory_xact_lock(?)", (lock_key(f"{token_id}\n{key}"),))

    def step(self, name: str) -> bool:
        """Try to hold the lock of a background step, without waiting; True if held."""
        key = lock_key(f"deconfliction:step:{name}")
        row = self.db.execute("SELECT pg_try_advisory_xact_lock(?)", (key,)).fetchone()
        return row is not None and bool(row[0])

    def log_appends(self) -> None:
        """Hold the global lock of the line's events and the transparency log.

        Every writer waits for this lock, so from here on statements are sent without waiting
        for the results nobody reads (the appends), and the newest event id, the log size and
        the newest leaves this process does not know are asked for with the lock, in the same
        round trip: the lock is held for fewer of them. Each statement of a READ COMMITTED
        transaction reads a snapshot taken when it starts, and PostgreSQL runs them in order,
        so these are read once the lock is held.
        """
        if not self.log:
            self.db.start_pipeline()
            self.db.execute("SELECT pg_advisory_xact_lock(?)", (LOG,))
            self._ends_query = self.db.execute(
                "SELECT (SELECT coalesce(max(id), 0) FROM events), "
                "(SELECT coalesce(max(idx) + 1, 0) FROM log_entries)"
            )
            self._leaves_query = self.db.execute(
                UNKNOWN_RECENT_LEAVES, (self.committed_log.newest_leaf, RECENT_LEAVES)
            )
            self.log = True

    def _log_ends(self) -> tuple[int, int]:
        if self._ends is None:
            newest_event, size = self._ends_query.fetchone()
            self._ends = (int(newest_event), int(size))
        return self._ends

    def newest_event(self) -> int:
        """The newest event id when the log lock was taken (0 if none)."""
        return self._log_ends()[0]

    def log_size(self) -> int:
        """The log's size when the log lock was taken."""
        return self._log_ends()[1]

    def recent_leaves(self) -> dict[int, bytes]:
        """The hashes of the newest leaves (at most RECENT_LEAVES) that this process did not
        know when the log lock was taken, by index; once (empty afterwards)."""
        if self._leaves_query is None:
            return {}
        rows, self._leaves_query = self._leaves_query.fetchall(), None
        return {int(index): bytes(digest) for index, digest in rows}


class Locking:
    """Mixed into the store's transaction: the locks of a write, taken by its queries."""

    db: Any
    writing: bool
    locks: Locks

    def lock_mechanism(self, mechanism_id: str) -> bool:
        """In a write, hold the mechanism's lock; True if it was taken (and waited for) now."""
        return self.writing and self.locks.mechanism(mechanism_id)

    def locked_row(self, table: str, row_id: str) -> dict[str, Any] | None:
        """A row read by id; in a write, read again once its mechanism is locked (it may have
        changed while this transaction waited for the lock)."""
        sql = f"SELECT * FROM {table} WHERE id = ?"
        row = one(self.db.execute(sql, (row_id,)))
        if row is not None and self.lock_mechanism(row["mechanism_id"]):
            row = one(self.db.execute(sql, (row_id,)))
        return row
