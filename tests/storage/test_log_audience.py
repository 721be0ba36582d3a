"""Who may see a log entry: every party of its audience and no other, read by key lookups."""

from __future__ import annotations

import pytest
from backends import ON_POSTGRES, Database, Databases

from deconfliction.services import ledger
from deconfliction.storage import open_store
from deconfliction.storage.sqlite.ledger import AUDIENCE_OF_ENTRY

AUDIENCES = [["pty_b"], ["pty_a", "pty_c"], [], ["pty_a", "pty_b", "pty_c"], ["pty_c"]]


@pytest.fixture
def database(databases: Databases) -> Database:
    return databases.new()


def test_an_entry_is_seen_by_its_audience_and_nobody_else(database: Database) -> None:
    store = open_store(database.url)
    try:
        with store.write() as tx:
            for party in ("pty_a", "pty_b", "pty_c", "pty_d"):
                tx.insert_party(
                    {"id": party, "name": party, "code": party, "contact": "", "created_at": "x"}
                )
            indexes = [
                ledger.record(
                    tx,
                    "test.entry",
                    at="2026-12-06T12:00:00Z",
                    mechanism_id=None,
                    subject_id=f"sub_{n}",
                    audience=audience,
                    by=None,
                    data={"n": n},
                )
                for n, audience in enumerate(AUDIENCES)
            ]
        with store.read() as tx:
            assert [tx.log_audience(i) for i in indexes] == [sorted(a) for a in AUDIENCES]
    finally:
        store.close()


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's query plan")
def test_an_entrys_audience_is_read_by_key_not_by_scanning_every_entrys(
    database: Database,
) -> None:
    open_store(database.url).close()
    plan = " | ".join(
        str(row[-1]) for row in database.rows(f"EXPLAIN QUERY PLAN {AUDIENCE_OF_ENTRY}", (7,))
    )
    assert "SEARCH a USING PRIMARY KEY (party_id=? AND idx=?)" in plan, plan
    assert "SCAN a" not in plan, plan
