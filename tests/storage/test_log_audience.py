"""Who may see a log entry: every party of its audience and no other."""

from __future__ import annotations

import pytest
from backends import Database, Databases

from deconfliction.services import ledger
from deconfliction.storage import open_store

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
