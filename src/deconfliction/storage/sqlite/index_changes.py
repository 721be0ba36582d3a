"""The volume index's recent changes: which notifications' indexed volumes changed, in order.

A conflict search made ahead of the writer's turn (services/conflict_search.py) reads the
mechanism's mark first, then its candidates; in the turn, the notifications changed since that
mark are the only ones whose candidates it may have read otherwise than they are now. Every
change to the index goes through `index_volumes` or `remove_volumes`, and each records a row
here (PostgreSQL's, in the statement that makes the change), so no change escapes the journal.

Ids increase in commit order within a mechanism: on SQLite one write runs at a time; on
PostgreSQL a change holds its mechanism's lock until it commits (locks.py), so the mark is taken
per mechanism — another mechanism's writer may commit a lower id later. The server's
background step keeps the newest JOURNAL_KEEP ids (services/conflict_search.py), and
`index_changes_pruned` remembers the newest id it removed: a mark older than that gives no
answer, and the caller searches afresh.
"""

from __future__ import annotations

import sqlite3


class IndexChanges:
    """Mixed into the store's transaction; `db` is the transaction's connection."""

    db: sqlite3.Connection

    def record_index_change(self, mechanism_id: str, notification_id: str) -> None:
        """Journal a change to the notification's indexed volumes (the store's own call)."""
        self.db.execute(
            "INSERT INTO index_changes (mechanism_id, notification_id) VALUES (?, ?)",
            (mechanism_id, notification_id),
        )

    def prune_index_changes(self, keep: int, batch: int) -> bool:
        """Remove up to `batch` ids of the journal's older rows, keeping its newest `keep` ids;
        True when older ones are left."""
        newest, done = self.db.execute(
            "SELECT (SELECT MAX(id) FROM index_changes), "
            "(SELECT COALESCE(MAX(through), 0) FROM index_changes_pruned)"
        ).fetchone()
        if newest is None or newest - keep <= done:
            return False
        through = min(newest - keep, done + batch)
        self.db.execute("DELETE FROM index_changes WHERE id <= ?", (through,))
        self.db.execute(
            "INSERT INTO index_changes_pruned (singleton, through) VALUES (1, ?) "
            "ON CONFLICT (singleton) DO UPDATE SET through = excluded.through",
            (through,),
        )
        return through < newest - keep

    def index_mark(self, mechanism_id: str) -> int:
        """The newest change of the mechanism's index this transaction sees (0 if none)."""
        row = self.db.execute(
            "SELECT COALESCE(MAX(id), 0) FROM index_changes WHERE mechanism_id = ?",
            (mechanism_id,),
        ).fetchone()
        return int(row[0])

    def index_changed_since(self, mechanism_id: str, mark: int) -> set[str] | None:
        """The notifications of the mechanism whose indexed volumes changed after `mark`; None
        when the journal no longer holds every change after it."""
        rows = self.db.execute(
            "SELECT p.through, c.notification_id FROM "
            "(SELECT COALESCE(MAX(through), 0) AS through FROM index_changes_pruned) p "
            "LEFT JOIN index_changes c ON c.mechanism_id = ? AND c.id > ?",
            (mechanism_id, mark),
        ).fetchall()
        if mark < rows[0][0]:
            return None
        return {str(row[1]) for row in rows if row[1] is not None}
