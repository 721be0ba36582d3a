"""The PostgreSQL store: a connection pool, one transaction per use case, writers serialised per
mechanism by advisory locks (locks.py), candidates from one composite GiST index; several
processes share it (event wake-ups in wakeups.py, webhook claims in delivery.py).

The queries are the SQLite adapter's (written in SQL both databases accept) wherever PostgreSQL
accepts them as they are; this package overrides only what it spells differently and where a
write must take a lock first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import shapely
from psycopg_pool import ConnectionPool

from deconfliction.domain.candidates import COLUMNS, Candidates, columns_of
from deconfliction.domain.placed import Placed
from deconfliction.domain.volumes import Box
from deconfliction.storage import DatabaseUnavailable
from deconfliction.storage.committed_log import CommittedLog
from deconfliction.storage.lookup import OneSelect
from deconfliction.storage.postgres.connection import Sql, records
from deconfliction.storage.postgres.delivery import PostgresDeliveryQueries
from deconfliction.storage.postgres.incidents import PostgresIncidentQueries
from deconfliction.storage.postgres.ledger import PostgresLedgerQueries
from deconfliction.storage.postgres.line import PostgresLineQueries
from deconfliction.storage.postgres.locks import Locks
from deconfliction.storage.postgres.migrations import migrate
from deconfliction.storage.postgres.wakeups import Listener
from deconfliction.storage.sqlite.rows import dicts
from deconfliction.storage.sqlite.store import SqliteTransaction

POOL_SIZE = 16  # request threads, stream catch-ups, the event hub, the scheduler and deliveries

# The candidate query's box: a 3D line between two corners (its bounding box is the box), and
# closed float ranges for altitude and time.
AREA = "ST_MakeLine(ST_MakePoint(?, ?, ?), ST_MakePoint(?, ?, ?))"
RANGE = "floatrange(?, ?, '[]')"
# Every condition the composite GiST index holds is an operator it answers (=, &&&, &&), so the
# planner searches it for all four at once; only the party is filtered afterwards.
CANDIDATES = (
    f"SELECT {', '.join(COLUMNS)}, core_wkb FROM volumes "
    f"WHERE mechanism_id = ? AND area &&& {AREA} AND altitude && {RANGE} "
    f"AND span && {RANGE} AND party_id <> ?"
)


# The index's journal row of a change (storage/sqlite/index_changes.py), written by the same
# statement as the change: no round trip of its own. A notification of several volumes is
# journalled once a volume.
JOURNALLED = (
    "journalled AS (INSERT INTO index_changes (mechanism_id, notification_id) VALUES (?, ?))"
)


def box_values(box: Box) -> tuple[float, ...]:
    """The parameters of AREA, RANGE (altitude) and RANGE (time) for a box, in that order."""
    low, high = box.low, box.high
    return (*low[:3], *high[:3], low[3], high[3], low[4], high[4])


class PostgresStore:
    """A PostgreSQL database holding every mechanism; many writers, one per mechanism at a time."""

    # Few: the thread holding the log lock shares its process's interpreter lock with the others,
    # and a process of 4 keeps its core busy while requests wait for PostgreSQL
    # (docs/deployment.md, "Request threads with several processes").
    request_threads = 4

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        try:
            migrate(url)
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(f"cannot open the PostgreSQL database: {error}") from error
        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "row_factory": records},
            num_workers=1,
            open=True,
            name="deconfliction",
        )
        self._log = CommittedLog()

    # Each transaction names its isolation level and access mode in its BEGIN (psycopg builds
    # the statement from the connection's `isolation_level` and `read_only`): one round trip,
    # not a BEGIN and a SET TRANSACTION.

    @contextmanager
    def write(self) -> Iterator[PostgresTransaction]:
        """One use case's writes in one READ COMMITTED transaction, committed when it ends.

        Once the log lock is held, statements are pipelined (locks.py); the COMMIT then goes
        with the last of them, and one round trip ends the transaction and the lock. A
        statement that failed fails the write there, and the transaction is rolled back.
        """
        with self._pool.connection() as connection:
            connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            connection.read_only = False
            with connection.transaction():
                tx = PostgresTransaction(Sql(connection), self._log, writing=True)
                try:
                    yield tx
                    tx.flush()
                except BaseException as error:
                    tx.db.end_pipeline(error)
                    raise
            # The COMMIT, if the statements before it were pipelined. If one of them failed, it
            # raises here, the COMMIT was skipped, and the pooled connection rolls back as the
            # error leaves its block.
            tx.db.end_pipeline(None)
        self._log.learn(tx.log_lesson)  # committed

    @contextmanager
    def read(self) -> Iterator[PostgresTransaction]:
        """A consistent snapshot (REPEATABLE READ), READ ONLY so that PostgreSQL refuses any
        write in it, and committed when done: a rollback would make psycopg forget (and
        deallocate) the connection's prepared statements (docs/postgresql.md)."""
        with self._pool.connection() as connection:
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            connection.read_only = True
            with connection.transaction():
                tx = PostgresTransaction(Sql(connection), self._log, writing=False)
                yield tx
                tx.require_nothing_deferred()
        self._log.learn(tx.log_lesson)  # a snapshot holds committed rows only

    @contextmanager
    def lookup(self) -> Iterator[PostgresTransaction]:
        """One SELECT, outside any transaction block (the pool's connections are in autocommit
        mode): its own snapshot, in one round trip instead of three (storage/lookup.py)."""
        with self._pool.connection() as connection:
            one_select = OneSelect(Sql(connection))  # runs what a read's Sql runs, once
            tx = PostgresTransaction(one_select, self._log, writing=False)  # type: ignore[arg-type]
            yield tx
            tx.require_nothing_deferred()
        self._log.learn(tx.log_lesson)  # one statement reads committed rows only

    def ping(self) -> bool:
        with self.lookup() as tx:
            return tx.ping()

    def work_ahead_is_free(self) -> bool:
        """False: the search ahead's read transaction costs more round trips and CPU than it
        takes off a mechanism's turn (docs/reliability.md, "The conflict search made ahead")."""
        return False

    def watch_events(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` (on another thread) after every commit that stored events, in any
        process on this database; returns what stops it."""
        return Listener(self.url, wake).close

    def close(self) -> None:
        """Close the pool's connections (the store cannot be used afterwards)."""
        self._pool.close()


class PostgresTransaction(
    PostgresLineQueries,
    PostgresLedgerQueries,
    PostgresIncidentQueries,
    PostgresDeliveryQueries,
    SqliteTransaction,
):
    """The queries of one transaction; a writing one takes the locks its decisions need."""

    def __init__(self, db: Sql, committed_log: CommittedLog, *, writing: bool) -> None:
        super().__init__(db, committed_log)  # type: ignore[arg-type]
        self.writing = writing
        self.locks = Locks(db, committed_log)
        self.last_event: int | None = None
        self.announced = False

    def claim_step(self, name: str) -> bool:
        """Whether this write may run the named background step: True once it holds the step's
        lock, held to its commit; False if a transaction of another process holds it."""
        return self.locks.step(name)

    # What PostgreSQL spells differently.

    def tokens(self, party_id: str | None) -> list[dict[str, Any]]:
        return dicts(
            self.db.execute(
                "SELECT * FROM tokens WHERE party_id IS NOT DISTINCT FROM ? ORDER BY created_at",
                (party_id,),
            )
        )

    def add_member(self, mechanism_id: str, party_id: str, at: str) -> bool:
        self.lock_mechanism(mechanism_id)
        return super().add_member(mechanism_id, party_id, at)

    # The volume index.

    def replace_volumes(
        self, notification: dict[str, Any], placed: list[tuple[Placed, Box]]
    ) -> None:
        """Index a notification's current volumes, replacing whatever was indexed before."""
        self.lock_mechanism(notification["mechanism_id"])
        self.remove_volumes(notification)
        self.index_volumes(notification, placed)

    def index_volumes(self, notification: dict[str, Any], placed: list[tuple[Placed, Box]]) -> None:
        """Index the volumes of a notification that has none indexed (a new one)."""
        self.lock_mechanism(notification["mechanism_id"])
        self.db.executemany(
            f"WITH {JOURNALLED} INSERT INTO volumes (mechanism_id, {', '.join(COLUMNS)}, "
            f"core_wkb, area, altitude, span) "
            f"VALUES (?, {', '.join('?' * len(COLUMNS))}, ?, {AREA}, {RANGE}, {RANGE})",
            [
                (
                    notification["mechanism_id"],
                    notification["id"],
                    notification["mechanism_id"],
                    *columns_of(volume),
                    shapely.to_wkb(volume.shape.core),
                    *box_values(box),
                )
                for volume, box in placed
            ],
        )

    def remove_volumes(self, notification: dict[str, Any]) -> None:
        self.lock_mechanism(notification["mechanism_id"])
        self.db.execute(
            f"WITH {JOURNALLED} DELETE FROM volumes WHERE notification_id = ?",
            (notification["mechanism_id"], notification["id"], notification["id"]),
        )

    INDEX_HITS = (
        f"SELECT notification_id, party_id FROM volumes WHERE mechanism_id = ? "
        f"AND area &&& {AREA} AND altitude && {RANGE} AND span && {RANGE}"
    )

    @staticmethod
    def within_values(mechanism_id: str, box: Box) -> list[Any]:
        """The parameters of INDEX_HITS."""
        return [mechanism_id, *box_values(box)]

    def candidates(self, mechanism_id: str, party_id: str, box: Box) -> Candidates:
        """Other parties' indexed volumes in the mechanism whose boxes touch `box`."""
        self.lock_mechanism(mechanism_id)
        rows = self.db.execute(CANDIDATES, (mechanism_id, *box_values(box), party_id))
        return Candidates.from_rows(rows.fetchall())

    def candidates_among(
        self, mechanism_id: str, party_id: str, box: Box, notification_ids: list[str]
    ) -> Candidates:
        """`candidates`, of the given notifications only: looked up by notification."""
        self.lock_mechanism(mechanism_id)
        rows = self.db.execute(
            f"{CANDIDATES} AND notification_id = ANY(?)",
            (mechanism_id, *box_values(box), party_id, notification_ids),
        )
        return Candidates.from_rows(rows.fetchall())

    # Reads and writes that decide something in a mechanism: its lock first.

    def mechanism(self, mechanism_id: str) -> dict[str, Any] | None:
        self.lock_mechanism(mechanism_id)
        return super().mechanism(mechanism_id)

    def members_mechanism(self, mechanism_id: str, party_id: str) -> dict[str, Any] | None:
        self.lock_mechanism(mechanism_id)
        return super().members_mechanism(mechanism_id, party_id)

    def notification(self, notification_id: str) -> dict[str, Any] | None:
        return self.locked_row("notifications", notification_id)

    def conflict(self, conflict_id: str) -> dict[str, Any] | None:
        return self.locked_row("conflicts", conflict_id)

    def insert_notification(self, row: dict[str, Any]) -> None:
        self.lock_mechanism(row["mechanism_id"])
        super().insert_notification(row)

    def idempotent_response(self, token_id: str, key: str) -> dict[str, Any] | None:
        if self.writing:
            self.locks.request(token_id, key)
        return super().idempotent_response(token_id, key)

    def insert_conflict(self, row: dict[str, Any]) -> None:
        self.lock_mechanism(row["mechanism_id"])
        super().insert_conflict(row)
