"""Versioned schema migrations of the SQLite store; each runs once, in order, in a transaction."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from deconfliction.storage.schema import DESCRIPTIONS, Types, tables

TYPES = Types(
    integer="INTEGER",
    real="REAL",
    blob="BLOB",
    serial="INTEGER PRIMARY KEY",
    ordered_key="INTEGER PRIMARY KEY AUTOINCREMENT",
    without_rowid=" WITHOUT ROWID",
)

# A volume's box in an R*Tree (store.py scales the axes), its exact data in auxiliary columns.
VOLUMES = """
    CREATE TABLE volumes (
        id INTEGER PRIMARY KEY,
        notification_id TEXT NOT NULL REFERENCES notifications(id)
    );
    CREATE INDEX volumes_notification ON volumes(notification_id);
    CREATE VIRTUAL TABLE volume_index USING rtree(
        id, x0, x1, y0, y1, z0, z1, a0, a1, t0, t1,
        +mechanism_id, +party_id, +notification_id, +idx, +radius_m, +centre_lon,
        +centre_lat, +lower_m, +upper_m, +reference, +start_ts, +end_ts, +core_wkb
    )
"""

EVENT_AUDIENCE_BACKFILL = """
    INSERT INTO event_audience (party_id, event_id)
        SELECT j.value, e.id FROM events e, json_each(e.audience_json) j
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, DESCRIPTIONS[1], tables(1, TYPES) + ";" + VOLUMES),
    (2, DESCRIPTIONS[2], tables(2, TYPES) + ";" + EVENT_AUDIENCE_BACKFILL),
    (3, DESCRIPTIONS[3], tables(3, TYPES)),
    (4, DESCRIPTIONS[4], tables(4, TYPES)),
    (5, DESCRIPTIONS[5], tables(5, TYPES)),
    (6, DESCRIPTIONS[6], tables(6, TYPES)),
    (7, DESCRIPTIONS[7], tables(7, TYPES)),
    (8, DESCRIPTIONS[8], tables(8, TYPES)),
    (9, DESCRIPTIONS[9], tables(9, TYPES)),
    (10, DESCRIPTIONS[10], tables(10, TYPES)),
    (11, DESCRIPTIONS[11], tables(11, TYPES)),
    (12, DESCRIPTIONS[12], tables(12, TYPES)),
    (13, DESCRIPTIONS[13], tables(13, TYPES)),
]


def migrate(connection: sqlite3.Connection) -> list[int]:
    """Apply every migration the database lacks; returns the versions applied."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = []
    for version, description, script in MIGRATIONS:
        # Checked inside the write lock, so two processes opening a new file migrate it once.
        connection.execute("BEGIN IMMEDIATE")
        try:
            if connection.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone():
                connection.execute("COMMIT")
                continue
            for statement in script.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (version, description, datetime.now(UTC).isoformat()),
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
