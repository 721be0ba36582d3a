"""A mechanism's rows, table by table, for moving it whole to another shard
(services/mechanism_move.py): read from one database, inserted into another, deleted from the
first. Its events, their webhook deliveries and its log entries are not among them: they stay
where they were made (the stream's and the log's history).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from deconfliction.storage.sqlite.rows import dicts

_NOTIFICATIONS = "SELECT id FROM notifications WHERE mechanism_id = ?"
_INCIDENTS = "SELECT id FROM incidents WHERE mechanism_id = ?"
# Table → (the rows of one mechanism, how many times the clause takes its id), in an order in
# which each table comes after those it refers to.
OF_MECHANISM: dict[str, tuple[str, int]] = {
    "mechanisms": ("id = ?", 1),
    "members": ("mechanism_id = ?", 1),
    "notifications": ("mechanism_id = ?", 1),
    "revisions": (f"notification_id IN ({_NOTIFICATIONS})", 1),
    "conflicts": ("mechanism_id = ?", 1),
    "messages": ("mechanism_id = ?", 1),
    "acknowledgements": (
        f"subject_id IN ({_NOTIFICATIONS} UNION SELECT id FROM conflicts WHERE mechanism_id = ? "
        "UNION SELECT id FROM messages WHERE mechanism_id = ?)",
        3,
    ),
    "inbox": ("mechanism_id = ?", 1),
    "escalation_contacts": ("mechanism_id = ?", 1),
    "silence_alarms": ("mechanism_id = ?", 1),
    "incidents": ("mechanism_id = ?", 1),
    "incident_links": (f"incident_id IN ({_INCIDENTS})", 1),
    "incident_parties": (f"incident_id IN ({_INCIDENTS})", 1),
    "idempotency": ("mechanism_id = ?", 1),  # a retry after the move is still recognised
}
SERIAL = {"inbox": "id"}  # numbered by each database: the target gives its own
LATER = {"messages": "in_reply_to"}  # refers to its own table: set once every row is in
# Rows whose key the target may already hold for another mechanism: the target's row is kept.
# (One token's Idempotency-Key used in a mechanism on each shard: the moved request's retry is
# then refused as a different request, 422, never redone.)
TARGET_KEPT = {"idempotency": "(token_id, key)"}


class MechanismRows:
    """Mixed into the store's transaction; `db` is the transaction's connection."""

    db: sqlite3.Connection

    def mechanism_rows(self, table: str, mechanism_id: str) -> list[dict[str, Any]]:
        clause, times = OF_MECHANISM[table]
        sql = f"SELECT * FROM {table} WHERE {clause}"
        rows = dicts(self.db.execute(sql, (mechanism_id,) * times))
        for row in rows:
            row.pop(SERIAL.get(table, ""), None)
        return rows

    def insert_mechanism_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows read by `mechanism_rows` (a reference to the same table set after)."""
        if not rows:
            return
        later = LATER.get(table)
        columns = [c for c in rows[0] if c != later]
        kept = TARGET_KEPT.get(table)
        self.db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})"
            + ("" if kept is None else f" ON CONFLICT {kept} DO NOTHING"),
            rows,
        )
        if later is not None:
            self.db.executemany(
                f"UPDATE {table} SET {later} = ? WHERE id = ?",
                [(row[later], row["id"]) for row in rows if row[later] is not None],
            )

    def delete_mechanism_rows(self, table: str, mechanism_id: str) -> None:
        clause, times = OF_MECHANISM[table]
        later = LATER.get(table)
        if later is not None:
            self.db.execute(
                f"UPDATE {table} SET {later} = NULL WHERE {clause}", (mechanism_id,) * times
            )
        self.db.execute(f"DELETE FROM {table} WHERE {clause}", (mechanism_id,) * times)
