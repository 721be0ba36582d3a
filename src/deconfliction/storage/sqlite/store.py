"""The embedded SQLite store: one writer, WAL, synchronous=FULL, an R*Tree over volume boxes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely

from deconfliction.domain.candidates import COLUMNS, Candidates, columns_of
from deconfliction.domain.placed import Placed
from deconfliction.domain.volumes import Box
from deconfliction.storage.committed_log import CommittedLog, Lesson
from deconfliction.storage.deferred import DeferredActions
from deconfliction.storage.lookup import OneSelect
from deconfliction.storage.sqlite.checkpoints import WRITER_FALLBACK_PAGES, Checkpointer
from deconfliction.storage.sqlite.delivery import DeliveryQueries
from deconfliction.storage.sqlite.directory import DirectoryQueries
from deconfliction.storage.sqlite.group_commit import GroupCommit
from deconfliction.storage.sqlite.incidents import IncidentQueries
from deconfliction.storage.sqlite.index_changes import IndexChanges
from deconfliction.storage.sqlite.ledger import LedgerQueries
from deconfliction.storage.sqlite.line import LineQueries
from deconfliction.storage.sqlite.mechanism_rows import MechanismRows
from deconfliction.storage.sqlite.migrations import migrate
from deconfliction.storage.sqlite.rows import dicts, marks, one
from deconfliction.storage.sqlite.writer_lock import WriterLock, lock_path_for

# R*Tree coordinates are 32-bit floats, rounded outwards, so a box is never stored too small.
# The R*Tree splits its nodes by the sum of box edge lengths, so all five axes are given in
# units of a similar reach: position in km on the sphere (unit vector × 6371), altitude in km,
# time in hours since 2000 (one float step is then about half a metre and a few seconds).
EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
SPACE_SCALE = 6_371.0
ALTITUDE_SCALE = 1e-3
BUSY_TIMEOUT_MS = 30_000
MMAP_BYTES = 1 << 30
STATE_IS = {"open": "state = 'open'", "resolved": "state = 'resolved'"}  # a conflict's states
ORDER = "ORDER BY start_ts, id"  # notifications listed: the operator's order
# A notification's states, as conditions on its row (each `?` is the moment of the listing).
NOTIFICATION_STATES = {
    "cancelled": "cancelled_at IS NOT NULL",
    "notified": "cancelled_at IS NULL AND start_ts > ?",
    "active": "cancelled_at IS NULL AND start_ts <= ? AND end_ts > ?",
    "ended": "cancelled_at IS NULL AND end_ts <= ?",
}
# A notification in a conflict with one of a party's, found from the party's conflicts in the
# mechanism; its parameters are the party and the mechanism, twice.
IN_A_PARTYS_CONFLICTS = (
    "id IN (SELECT notification_b FROM conflicts WHERE party_a = ? AND mechanism_id = ? "
    "UNION SELECT notification_a FROM conflicts WHERE party_b = ? AND mechanism_id = ?)"
)
# An index hit (`h`, of INDEX_HITS) whose notification is in a conflict with one of a party's,
# looked up by the hit's notification; its parameters are the party, twice.
HIT_IN_A_CONFLICT = (
    "(EXISTS (SELECT 1 FROM conflicts AS c WHERE c.notification_a = h.notification_id "
    "AND c.party_b = ?) OR EXISTS (SELECT 1 FROM conflicts AS c "
    "WHERE c.notification_b = h.notification_id AND c.party_a = ?))"
)


def _scaled(corner: tuple[float, float, float, float, float]) -> list[float]:
    x, y, z, altitude, seconds = corner
    return [
        x * SPACE_SCALE,
        y * SPACE_SCALE,
        z * SPACE_SCALE,
        altitude * ALTITUDE_SCALE,
        (seconds - EPOCH_2000) / 3_600.0,
    ]


def _filters(
    state: str | None, now: float, start: float | None, end: float | None
) -> tuple[list[str], list[Any]]:
    """A listing's conditions on a notification's state and time, with their parameters."""
    filters: list[str] = []
    values: list[Any] = []
    if state is not None:
        filters.append(NOTIFICATION_STATES[state])
        values.extend([now] * NOTIFICATION_STATES[state].count("?"))
    if start is not None:
        filters.append("end_ts > ?")
        values.append(start)
    if end is not None:
        filters.append("start_ts < ?")
        values.append(end)
    return filters, values


def _rtree_box(box: Box) -> list[float]:
    low, high = _scaled(box.low), _scaled(box.high)
    return [value for pair in zip(low, high, strict=True) for value in pair]


class SqliteStore:
    """A SQLite file holding every mechanism; writes are serialised, reads run in parallel."""

    # Enough threads for the writer's groups to fill (group_commit.MAX_GROUP use cases share a
    # commit, and with several processes a turn of the writer lock): with 4, a group held at
    # most 4 and two processes served a quarter fewer notifies (docs/reliability.md).
    request_threads = 16

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._writer = self._connect()
        migrate(self._writer)
        self._writer_lock = WriterLock(lock_path_for(self.path), self.path.stat().st_mode & 0o666)
        # Checkpoints are made beside the writer, not inside its commits (checkpoints.py).
        self._writer.execute(f"PRAGMA wal_autocheckpoint={WRITER_FALLBACK_PAGES}")
        self._checkpoints = Checkpointer(self._connect)
        self._writes = GroupCommit(
            self._writer, self._writer_lock, after_commit=self._checkpoints.nudge
        )
        self._log = CommittedLog()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL: a write the client saw acknowledged survives a power cut, not only a crash.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Reads through a memory map skip a copy per page: the candidate query reads scattered
        # pages of the index and the volumes table. Writes still go through the journal.
        connection.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        return connection

    @contextmanager
    def write(self) -> Iterator[SqliteTransaction]:
        """One use case's writes, atomic; one runs at a time, across threads and processes.

        Use cases queued behind each other share a commit (group_commit.py); each returns only
        once its writes are durable.
        """
        with self._writes.use_case():
            tx = SqliteTransaction(self._writer, self._log)
            yield tx
            tx.flush()
        self._log.learn(tx.log_lesson)  # committed, with its group

    def _reader(self) -> sqlite3.Connection:
        """This thread's own connection for reads."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        return connection

    @contextmanager
    def read(self) -> Iterator[SqliteTransaction]:
        """A consistent read-only snapshot on this thread's own connection."""
        connection = self._reader()
        connection.execute("BEGIN")
        try:
            tx = SqliteTransaction(connection, self._log)
            yield tx
            tx.require_nothing_deferred()
        finally:
            connection.execute("ROLLBACK")
        self._log.learn(tx.log_lesson)  # a snapshot holds committed rows only

    @contextmanager
    def lookup(self) -> Iterator[SqliteTransaction]:
        """One SELECT on this thread's own connection, its own snapshot (storage/lookup.py)."""
        tx = SqliteTransaction(OneSelect(self._reader()), self._log)  # type: ignore[arg-type]
        yield tx
        tx.require_nothing_deferred()
        self._log.learn(tx.log_lesson)  # one statement reads committed rows only

    def ping(self) -> bool:
        with self.lookup() as tx:
            return tx.ping()

    def work_ahead_is_free(self) -> bool:
        """Whether this process's writes wait for another process's writer now: work a request
        does before its write then fills time it would wait anyway, and competes with no write
        of this process (whose turn it would slow, sharing the interpreter)."""
        return self._writes.awaiting_another_process

    def watch_events(self, wake: Callable[[], None]) -> None:
        """None: a SQLite file has no signal of another process's commits; readers poll."""
        return None

    def close(self) -> None:
        """Close the writer's connection and this thread's reader (the store is done with)."""
        self._checkpoints.close()
        self._writer.close()
        self._writer_lock.close()
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


class SqliteTransaction(
    DeferredActions,
    LineQueries,
    DeliveryQueries,
    LedgerQueries,
    IncidentQueries,
    DirectoryQueries,
    MechanismRows,
    IndexChanges,
):
    """The queries of one transaction: the store's side of every use case."""

    def __init__(self, connection: sqlite3.Connection, committed_log: CommittedLog) -> None:
        self.db = connection
        self.start_deferring()
        self.log_count: int | None = None
        self.log_first_own: int | None = None
        self.log_own_rows: dict[int, dict[str, Any]] = {}
        self.committed_log = committed_log
        self.log_lesson = Lesson()

    def ping(self) -> bool:
        return self.db.execute("SELECT 1").fetchone()[0] == 1

    def claim_step(self, name: str) -> bool:
        """True: SQLite runs one write transaction at a time, so a step in one runs alone."""
        return True

    # Parties, tokens, mechanisms, members.

    def insert_party(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO parties (id, name, code, contact, created_at) "
            "VALUES (:id, :name, :code, :contact, :created_at)",
            row,
        )

    def party(self, party_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM parties WHERE id = ?", (party_id,)))

    def parties_among(self, party_ids: list[str]) -> list[dict[str, Any]]:
        return dicts(
            self.db.execute(f"SELECT * FROM parties WHERE id IN ({marks(party_ids)})", party_ids)
        )

    def party_by_code(self, code: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM parties WHERE code = ?", (code,)))

    def parties(self) -> list[dict[str, Any]]:
        return dicts(self.db.execute("SELECT * FROM parties ORDER BY code"))

    def insert_token(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO tokens (id, token_hash, party_id, label, created_at) "
            "VALUES (:id, :token_hash, :party_id, :label, :created_at)",
            row,
        )

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM tokens WHERE token_hash = ?", (token_hash,)))

    def token(self, token_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)))

    def tokens(self, party_id: str | None) -> list[dict[str, Any]]:
        return dicts(
            self.db.execute(
                "SELECT * FROM tokens WHERE party_id IS ? ORDER BY created_at", (party_id,)
            )
        )

    def revoke_token(self, token_id: str, at: str) -> None:
        self.db.execute(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, token_id)
        )

    def insert_mechanism(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO mechanisms (id, name, area_json, rules_json, created_at) "
            "VALUES (:id, :name, :area_json, :rules_json, :created_at)",
            row,
        )

    def mechanism(self, mechanism_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM mechanisms WHERE id = ?", (mechanism_id,)))

    def members_mechanism(self, mechanism_id: str, party_id: str) -> dict[str, Any] | None:
        return one(
            self.db.execute(
                "SELECT m.* FROM mechanisms m JOIN members p ON p.mechanism_id = m.id "
                "WHERE m.id = ? AND p.party_id = ?",
                (mechanism_id, party_id),
            )
        )

    def mechanisms(self, member: str | None) -> list[dict[str, Any]]:
        if member is None:
            return dicts(self.db.execute("SELECT * FROM mechanisms ORDER BY created_at, id"))
        return dicts(
            self.db.execute(
                "SELECT m.* FROM mechanisms m JOIN members p ON p.mechanism_id = m.id "
                "WHERE p.party_id = ? ORDER BY m.created_at, m.id",
                (member,),
            )
        )

    def add_member(self, mechanism_id: str, party_id: str, at: str) -> bool:
        cursor = self.db.execute(
            "INSERT INTO members VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (mechanism_id, party_id, at),
        )
        return cursor.rowcount == 1

    def is_member(self, mechanism_id: str, party_id: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM members WHERE mechanism_id = ? AND party_id = ?",
                (mechanism_id, party_id),
            ).fetchone()
            is not None
        )

    def members(self, mechanism_id: str) -> list[dict[str, Any]]:
        return dicts(
            self.db.execute(
                "SELECT p.*, m.joined_at FROM members m JOIN parties p ON p.id = m.party_id "
                "WHERE m.mechanism_id = ? ORDER BY p.code",
                (mechanism_id,),
            )
        )

    # Notifications, revisions and the volume index.

    def insert_notification(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO notifications (id, mechanism_id, party_id, kind, title, reference, "
            "version, volumes_json, start_ts, end_ts, late, created_at, updated_at) VALUES "
            "(:id, :mechanism_id, :party_id, :kind, :title, :reference, :version, "
            ":volumes_json, :start_ts, :end_ts, :late, :created_at, :updated_at)",
            row,
        )

    def update_notification(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE notifications SET kind = :kind, title = :title, reference = :reference, "
            "version = :version, volumes_json = :volumes_json, start_ts = :start_ts, "
            "end_ts = :end_ts, late = :late, updated_at = :updated_at WHERE id = :id",
            row,
        )

    def cancel_notification(self, notification_id: str, at: str, reason: str) -> None:
        self.db.execute(
            "UPDATE notifications SET cancelled_at = ?, cancel_reason = ?, updated_at = ? "
            "WHERE id = ?",
            (at, reason, at, notification_id),
        )

    def notification(self, notification_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM notifications WHERE id = ?", (notification_id,)))

    def notifications(
        self,
        mechanism_id: str,
        *,
        visible_to: str | None,
        state: str | None,
        now: float,
        start: float | None,
        end: float | None,
        limit: int,
        offset: int = 0,
        within: Box | None = None,
    ) -> list[dict[str, Any]]:
        """Notifications of a mechanism, filtered.

        `visible_to` keeps a party's own notifications and those in a conflict with one of them
        (the need-to-know candidates); None keeps all. `within` keeps those with a volume whose
        indexed box meets it (candidates: the exact test is the caller's).
        """
        filters, filter_args = _filters(state, now, start, end)
        with_hits, hit_values = "", []  # the index's hits in the box, read once as `hits`
        if within is not None:
            with_hits = f"WITH hits AS MATERIALIZED ({self.INDEX_HITS}) "
            hit_values = self.within_values(mechanism_id, within)
        if visible_to is None:
            # With `within`, the index's hits name the mechanism and give a few ids to look
            # up; with the mechanism also named here, SQLite would scan all of its
            # notifications.
            base, args = "mechanism_id = ?", [mechanism_id]
            if within is not None:
                base, args = "id IN (SELECT notification_id FROM hits)", []
            where = " AND ".join([base, *filters])
            sql = f"{with_hits}SELECT * FROM notifications WHERE {where} {ORDER} LIMIT ? OFFSET ?"
            return dicts(self.db.execute(sql, [*hit_values, *args, *filter_args, limit, offset]))
        if within is None:
            # A party's own (an index walk in order) and those in a conflict with one of its
            # own (looked up from its conflicts in the mechanism).
            own = " AND ".join(["mechanism_id = ?", "party_id = ?", *filters])
            own_values = [mechanism_id, visible_to, *filter_args]
            shared = " AND ".join([IN_A_PARTYS_CONFLICTS, "party_id <> ?", *filters])
            shared_values = [*[visible_to, mechanism_id] * 2, visible_to, *filter_args]
        else:
            # Both among the index's hits, read once: the party's own by the hit's party, the
            # others by looking up each hit's conflicts with the party. Never every
            # notification or every conflict of the party, which grow with the mechanism
            # while a box's hits do not.
            own_hits = "SELECT notification_id FROM hits WHERE party_id = ?"
            own = " AND ".join([f"id IN ({own_hits})", *filters])
            own_values = [visible_to, *filter_args]
            shared_hits = (
                f"SELECT h.notification_id FROM hits AS h WHERE h.party_id <> ? "
                f"AND {HIT_IN_A_CONFLICT}"
            )
            shared = " AND ".join([f"id IN ({shared_hits})", *filters])
            shared_values = [visible_to, visible_to, visible_to, *filter_args]
        return self._merged_page(
            (with_hits, hit_values), (own, own_values), (shared, shared_values), limit, offset
        )

    def _merged_page(
        self,
        hits: tuple[str, list[Any]],
        own: tuple[str, list[Any]],
        shared: tuple[str, list[Any]],
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        """A page of the union of two sets of notifications, each given as its condition and
        that condition's parameters (after the `hits` they read, if they read any):
        each set is read only up to the page's end, in order, and the two are merged in
        order."""
        end_of_page = limit + offset
        sql = (
            f"{hits[0]}SELECT * FROM (SELECT * FROM notifications WHERE {own[0]} {ORDER} "
            f"LIMIT ?) AS own UNION ALL SELECT * FROM (SELECT * FROM notifications "
            f"WHERE {shared[0]} {ORDER} LIMIT ?) AS shared {ORDER} LIMIT ? OFFSET ?"
        )
        values = [*hits[1], *own[1], end_of_page, *shared[1], end_of_page, limit, offset]
        return dicts(self.db.execute(sql, values))

    def insert_revision(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO revisions (notification_id, version, kind, title, reference, "
            "volumes_json, late, received_at, token_id) VALUES (:notification_id, :version, "
            ":kind, :title, :reference, :volumes_json, :late, :received_at, :token_id)",
            row,
        )

    def revisions(self, notification_id: str) -> list[dict[str, Any]]:
        return dicts(
            self.db.execute(
                "SELECT * FROM revisions WHERE notification_id = ? ORDER BY version",
                (notification_id,),
            )
        )

    def replace_volumes(
        self, notification: dict[str, Any], placed: list[tuple[Placed, Box]]
    ) -> None:
        """Index a notification's current volumes, replacing whatever was indexed before.

        A volume's exact data rides in the R*Tree's auxiliary columns, so a check reads each
        candidate once; `volumes` maps notifications to their index rows.
        """
        self.remove_volumes(notification)
        self.index_volumes(notification, placed)

    def index_volumes(self, notification: dict[str, Any], placed: list[tuple[Placed, Box]]) -> None:
        """Index the volumes of a notification that has none indexed (a new one)."""
        self.record_index_change(notification["mechanism_id"], notification["id"])
        for volume, box in placed:
            cursor = self.db.execute(
                "INSERT INTO volumes (notification_id) VALUES (?)", (volume.notification_id,)
            )
            self.db.execute(
                f"INSERT INTO volume_index (id, x0, x1, y0, y1, z0, z1, a0, a1, t0, t1, "
                f"mechanism_id, {', '.join(COLUMNS)}, core_wkb) "
                f"VALUES ({', '.join('?' * (13 + len(COLUMNS)))})",
                (
                    cursor.lastrowid,
                    *_rtree_box(box),
                    notification["mechanism_id"],
                    *columns_of(volume),
                    shapely.to_wkb(volume.shape.core),
                ),
            )

    def remove_volumes(self, notification: dict[str, Any]) -> None:
        self.record_index_change(notification["mechanism_id"], notification["id"])
        self.db.execute(
            "DELETE FROM volume_index WHERE id IN "
            "(SELECT id FROM volumes WHERE notification_id = ?)",
            (notification["id"],),
        )
        self.db.execute("DELETE FROM volumes WHERE notification_id = ?", (notification["id"],))

    # The index's hits in a box: each volume whose indexed box meets it, as its notification and
    # party (the index's own columns: nothing else is read for a hit).
    INDEX_HITS = (
        "SELECT notification_id, party_id FROM volume_index "
        "WHERE x1 >= ? AND x0 <= ? AND y1 >= ? AND y0 <= ? AND z1 >= ? AND z0 <= ? "
        "AND a1 >= ? AND a0 <= ? AND t1 >= ? AND t0 <= ? AND mechanism_id = ?"
    )

    @staticmethod
    def within_values(mechanism_id: str, box: Box) -> list[Any]:
        """The parameters of INDEX_HITS."""
        return [*_rtree_box(box), mechanism_id]

    def candidates(self, mechanism_id: str, party_id: str, box: Box) -> Candidates:
        """Other parties' indexed volumes in the mechanism whose boxes touch `box`."""
        rows = self.db.execute(
            f"SELECT {', '.join(COLUMNS)}, core_wkb FROM volume_index "
            "WHERE x1 >= ? AND x0 <= ? AND y1 >= ? AND y0 <= ? AND z1 >= ? AND z0 <= ? "
            "AND a1 >= ? AND a0 <= ? AND t1 >= ? AND t0 <= ? "
            "AND mechanism_id = ? AND party_id != ?",
            (*_rtree_box(box), mechanism_id, party_id),
        ).fetchall()
        return Candidates.from_rows(rows)

    def candidates_among(
        self, mechanism_id: str, party_id: str, box: Box, notification_ids: list[str]
    ) -> Candidates:
        """`candidates`, of the given notifications only: looked up by notification."""
        rows = self.db.execute(
            f"SELECT {', '.join('i.' + c for c in COLUMNS)}, i.core_wkb FROM volumes v "
            "JOIN volume_index i ON i.id = v.id "
            f"WHERE v.notification_id IN ({', '.join('?' * len(notification_ids))}) "
            "AND i.x1 >= ? AND i.x0 <= ? AND i.y1 >= ? AND i.y0 <= ? AND i.z1 >= ? "
            "AND i.z0 <= ? AND i.a1 >= ? AND i.a0 <= ? AND i.t1 >= ? AND i.t0 <= ? "
            "AND i.mechanism_id = ? AND i.party_id != ?",
            (*notification_ids, *_rtree_box(box), mechanism_id, party_id),
        ).fetchall()
        return Candidates.from_rows(rows)

    # Conflicts and acknowledgements.

    def insert_conflict(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO conflicts (id, mechanism_id, notification_a, party_a, notification_b, "
            "party_b, state, revision, overlaps_json, detected_at, updated_at) VALUES (:id, "
            ":mechanism_id, :notification_a, :party_a, :notification_b, :party_b, 'open', 1, "
            ":overlaps_json, :detected_at, :updated_at)",
            row,
        )

    def update_conflict_overlaps(self, conflict_id: str, overlaps_json: str, at: str) -> None:
        self.db.execute(
            "UPDATE conflicts SET overlaps_json = ?, revision = revision + 1, updated_at = ? "
            "WHERE id = ?",
            (overlaps_json, at, conflict_id),
        )

    def resolve_conflict(self, conflict_id: str, at: str, resolution: str) -> None:
        self.db.execute(
            "UPDATE conflicts SET state = 'resolved', resolved_at = ?, updated_at = ?, "
            "resolution = ? WHERE id = ?",
            (at, at, resolution, conflict_id),
        )

    def open_conflicts_of(self, notification_id: str) -> list[dict[str, Any]]:
        return dicts(
            self.db.execute(
                "SELECT * FROM conflicts WHERE state = 'open' AND "
                "(notification_a = ? OR notification_b = ?)",
                (notification_id, notification_id),
            )
        )

    def conflict(self, conflict_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM conflicts WHERE id = ?", (conflict_id,)))

    def conflicts(
        self,
        *,
        party: str | None,
        mechanism_id: str | None,
        state: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        where, args = [], []
        if party is not None:
            where.append("(party_a = ? OR party_b = ?)")
            args += [party, party]
        if mechanism_id is not None:
            where.append("mechanism_id = ?")
            args.append(mechanism_id)
        if state is not None:
            # Spelled out, not a parameter: a partial index of open conflicts (migration 10)
            # serves only a query whose own text implies its condition.
            where.append(STATE_IS[state])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return dicts(
            self.db.execute(
                f"SELECT * FROM conflicts {clause} ORDER BY detected_at, id LIMIT ?",
                [*args, limit],
            )
        )

    def conflicts_of_notifications(self, notification_ids: list[str]) -> list[dict[str, Any]]:
        """The conflicts of any of the notifications, each once, oldest first."""
        ids = marks(notification_ids)
        return dicts(
            self.db.execute(
                f"SELECT * FROM conflicts WHERE notification_a IN ({ids}) "
                f"OR notification_b IN ({ids}) ORDER BY detected_at, id",
                [*notification_ids, *notification_ids],
            )
        )

    def conflicts_between(self, party: str, other_notifications: list[str]) -> list[dict[str, Any]]:
        """Conflicts pairing one of `other_notifications` with a notification of `party`."""
        ids = marks(other_notifications)
        # Looked up by notification and party together (conflicts_na_pb, conflicts_nb_pa,
        # migration 13), never from the party's every conflict.
        return dicts(
            self.db.execute(
                f"SELECT * FROM conflicts WHERE (notification_a IN ({ids}) AND party_b = ?) "
                f"OR (notification_b IN ({ids}) AND party_a = ?) ORDER BY detected_at, id",
                [*other_notifications, party, *other_notifications, party],
            )
        )

    def acknowledge(self, row: dict[str, Any]) -> dict[str, Any]:
        """Record an acknowledgement once; a repeat returns the first one unchanged."""
        self.db.execute(
            "INSERT INTO acknowledgements (subject_type, subject_id, party_id, version, "
            "token_id, acknowledged_at) VALUES (:subject_type, :subject_id, :party_id, :version, "
            ":token_id, :acknowledged_at) ON CONFLICT DO NOTHING",
            row,
        )
        stored = one(
            self.db.execute(
                "SELECT * FROM acknowledgements WHERE subject_type = ? AND subject_id = ? "
                "AND party_id = ? AND version = ?",
                (row["subject_type"], row["subject_id"], row["party_id"], row["version"]),
            )
        )
        assert stored is not None
        return stored

    def acknowledgements(self, subject_type: str, subject_ids: list[str]) -> list[dict[str, Any]]:
        """The acknowledgements of any of the subjects, oldest first."""
        return dicts(
            self.db.execute(
                f"SELECT * FROM acknowledgements WHERE subject_type = ? "
                f"AND subject_id IN ({marks(subject_ids)}) "
                "ORDER BY acknowledged_at, party_id, version",
                [subject_type, *subject_ids],
            )
        )

    # Idempotency.

    def idempotent_response(self, token_id: str, key: str) -> dict[str, Any] | None:
        return one(
            self.db.execute(
                "SELECT * FROM idempotency WHERE token_id = ? AND key = ?", (token_id, key)
            )
        )

    def store_idempotent_response(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO idempotency (token_id, key, fingerprint, response_json, created_at, "
            "mechanism_id) VALUES (:token_id, :key, :fingerprint, :response_json, :created_at, "
            ":mechanism_id)",
            row,
        )
