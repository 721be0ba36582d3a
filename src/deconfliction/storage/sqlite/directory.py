"""The directory's rows as stored, for copying them from a deployment's home database to its
other shards (services/directory.py): parties, tokens, webhooks and parties' public keys.

A copy inserts what the shard lacks and brings what it has up to date, so copying twice, or
from two processes at once, leaves the same rows.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from deconfliction.storage.sqlite.rows import dicts

# Table → its columns the home database decides (a webhook's health is each shard's own).
DIRECTORY: dict[str, tuple[str, ...]] = {
    "parties": ("id", "name", "code", "contact", "created_at"),
    "tokens": ("id", "token_hash", "party_id", "label", "created_at", "revoked_at"),
    "webhooks": ("id", "party_id", "url", "secret", "purpose", "created_at", "deleted_at"),
    "party_keys": ("party_id", "public_key", "registered_at"),
}
KEYS = {"parties": "id", "tokens": "id", "webhooks": "id", "party_keys": "party_id"}


class DirectoryQueries:
    """Mixed into the store's transaction; `db` is the transaction's connection."""

    db: sqlite3.Connection

    def directory_rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a directory table, its shared columns only, in key order."""
        columns = DIRECTORY[table]
        return dicts(
            self.db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {KEYS[table]}")
        )

    def put_directory_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert the rows the table lacks and update those it has (by key)."""
        columns = DIRECTORY[table]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != KEYS[table])
        self.db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)}) "
            f"ON CONFLICT ({KEYS[table]}) DO UPDATE SET {updates}",
            rows,
        )
