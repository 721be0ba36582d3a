"""A lookup (storage/lookup.py), on both backends: one SELECT, outside any transaction block, so
PostgreSQL answers it in one round trip; a second statement or a write is refused before it is
sent, and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from backends import Databases

from deconfliction.services.ports import Store
from deconfliction.storage import open_store
from deconfliction.storage.lookup import LookupMisuse
from deconfliction.storage.postgres.store import PostgresStore

AT = "2031-05-01T06:00:00Z"
TOKEN = {
    "id": "tok_a",
    "token_hash": "hash-a",
    "party_id": None,
    "label": "operator",
    "created_at": AT,
    "revoked_at": None,
}


@pytest.fixture
def store(databases: Databases) -> Iterator[Store]:
    opened = open_store(databases.new().url)
    with opened.write() as tx:
        tx.insert_token(TOKEN)
    yield opened
    opened.close()


def test_a_lookup_reads_one_row(store: Store) -> None:
    with store.lookup() as tx:
        row = tx.token_by_hash("hash-a")
    assert row is not None and row["id"] == "tok_a"
    with store.lookup() as tx:
        assert tx.token_by_hash("hash-b") is None
    assert store.ping()


def test_a_lookup_refuses_a_second_statement(store: Store) -> None:
    with pytest.raises(LookupMisuse, match="one statement"), store.lookup() as tx:
        tx.token_by_hash("hash-a")
        tx.token("tok_a")


def test_a_lookup_refuses_a_write_and_writes_nothing(store: Store) -> None:
    with pytest.raises(LookupMisuse, match="only reads; refused: INSERT"), store.lookup() as tx:
        tx.insert_token({**TOKEN, "id": "tok_b", "token_hash": "hash-b"})
    with store.read() as tx:
        assert tx.token("tok_b") is None


def test_a_lookup_runs_outside_any_transaction_block(store: Store) -> None:
    with store.lookup() as tx:
        tx.token_by_hash("hash-a")
        connection = tx.db.db
        if isinstance(store, PostgresStore):
            in_transaction = connection.connection.info.transaction_status
            assert in_transaction == psycopg.pq.TransactionStatus.IDLE
        else:
            assert not connection.in_transaction
