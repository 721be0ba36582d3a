"""A lookup: a read whose whole work is one SELECT, run outside any transaction block.

A single statement reads one snapshot by itself, so it needs no transaction around it. On
PostgreSQL the BEGIN and COMMIT of a read are two round trips more than the statement's own,
and every request authenticates its token with one such statement: a lookup makes that one
round trip instead of three. A lookup that tries a second statement, or anything but a SELECT,
is a bug, and fails before the statement is sent.
"""

from __future__ import annotations

from typing import Any


class LookupMisuse(RuntimeError):
    """A lookup was asked for more than one SELECT (a bug: use the store's read())."""


class OneSelect:
    """A connection (sqlite3's or storage/postgres/connection.Sql) that runs one SELECT."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.used = False

    def execute(self, sql: str, params: Any = ()) -> Any:
        if self.used:
            raise LookupMisuse("a lookup runs one statement; use the store's read() for more")
        if sql.lstrip()[:6].upper() != "SELECT":
            raise LookupMisuse(f"a lookup only reads; refused: {sql.split(None, 1)[0]}")
        self.used = True
        return self.db.execute(sql, params)
