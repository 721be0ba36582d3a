"""Queries that must not read a whole table as it grows: SQLite's plans for them.

(PostgreSQL's planner chooses by the tables' statistics; tests/storage/test_postgres.py checks the
candidate search there.)
"""

from __future__ import annotations

import pytest
from backends import Database, Databases

from deconfliction.storage import open_store
from deconfliction.storage.sqlite.ledger import AUDIENCE_OF_ENTRY

pytestmark = pytest.mark.sqlite_only(reason="SQLite's query plans")


@pytest.fixture
def database(databases: Databases) -> Database:
    database = databases.new()
    open_store(database.url).close()
    return database


def plan(database: Database, sql: str, params: tuple[object, ...]) -> str:
    return " | ".join(str(row[-1]) for row in database.rows(f"EXPLAIN QUERY PLAN {sql}", params))


def test_an_entrys_audience_is_read_by_key_not_by_scanning_every_entrys(
    database: Database,
) -> None:
    found = plan(database, AUDIENCE_OF_ENTRY, (7,))
    assert "SEARCH a USING PRIMARY KEY (party_id=? AND idx=?)" in found, found
    assert "SCAN a" not in found, found


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM conflicts WHERE mechanism_id = ? ORDER BY detected_at, id LIMIT 100",
        "SELECT * FROM conflicts WHERE mechanism_id = ? AND state = 'open' "
        "ORDER BY detected_at, id LIMIT 100",
        "DELETE FROM conflicts WHERE mechanism_id = ?",
    ],
)
def test_a_mechanisms_conflicts_are_read_in_order_from_their_index(
    database: Database, sql: str
) -> None:
    found = plan(database, sql, ("mec_a",))
    assert "USING INDEX conflicts_mechanism (mechanism_id=?)" in found, found
    assert "TEMP B-TREE" not in found, found


PENDING = "acknowledged_at IS NULL AND closed_at IS NULL"


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (
            f"SELECT * FROM inbox WHERE party_id = ? AND {PENDING} "
            "ORDER BY deadline_ts, id LIMIT 100",
            ("pty_a",),
        ),
        (
            f"SELECT * FROM inbox WHERE party_id = ? AND {PENDING} AND deadline_ts <= ? "
            "ORDER BY deadline_ts, id LIMIT 100",
            ("pty_a", 1.9e9),
        ),
    ],
)
def test_a_partys_pending_and_overdue_items_are_read_in_deadline_order_from_their_index(
    database: Database, sql: str, params: tuple[object, ...]
) -> None:
    """The same clauses as the store's inbox listing (storage/sqlite/line.py) builds."""
    found = plan(database, sql, params)
    assert "USING INDEX inbox_pending (party_id=?" in found, found
    assert "TEMP B-TREE" not in found, found
