"""Turning SQLite results into the plain dicts the services use, and placeholders for IN (...)."""

from __future__ import annotations

import sqlite3
from typing import Any


def dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    return [dict(row) for row in cursor.fetchall()]


def one(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    row = cursor.fetchone()
    return dict(row) if row is not None else None


def marks(values: list[Any]) -> str:
    """`?, ?, ?` for as many values."""
    return ", ".join("?" * len(values))
