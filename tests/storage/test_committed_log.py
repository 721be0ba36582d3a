"""What a store keeps in memory of its log's committed leaves and subtrees (committed_log.py):
learnt only from transactions that committed, so a receipt never rests on a hash of leaves a
rollback took away; and the same proofs whether the hashes come from memory or the database."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from backends import Database, Databases
from nacl.signing import SigningKey

from deconfliction.domain.times import format_instant
from deconfliction.proof import merkle
from deconfliction.proof.entries import entry_leaf_hash
from deconfliction.proof.tree_head import SignedTreeHead, verify_tree_head
from deconfliction.services import ledger
from deconfliction.services.ports import Store, Transaction
from deconfliction.storage import open_store

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
KEY = SigningKey(b"\x07" * 32)


@pytest.fixture
def database(databases: Databases) -> Database:
    return databases.new()


class UseCaseFailed(Exception):
    pass


def append(tx: Transaction, label: str, count: int) -> list[int]:
    return [
        ledger.record(
            tx,
            "test.entry",
            at=format_instant(NOW),
            mechanism_id=None,
            subject_id=f"{label}-{n}",
            audience=[],
            by=None,
            data={"label": label, "n": n},
        )
        for n in range(count)
    ]


def receipts_of_a_write(store: Store, label: str, count: int) -> list[dict[str, Any]]:
    with store.write() as tx:
        return [ledger.receipt_now(tx, KEY, index, NOW) for index in append(tx, label, count)]


def stored_root(database: Database, size: int) -> bytes:
    """The root of the first `size` leaves as stored, computed without the service's tree."""
    rows = database.rows("SELECT leaf_hash FROM log_entries WHERE idx < ? ORDER BY idx", (size,))
    return merkle.root([bytes(row[0]) for row in rows])


def check(receipt: dict[str, Any], database: Database) -> None:
    unb64 = base64.b64decode
    head = SignedTreeHead.from_json(receipt["tree_head"])
    assert verify_tree_head(head, bytes(KEY.verify_key))
    leaf = entry_leaf_hash(receipt["entry"], unb64(receipt["salt"]))
    proof = [unb64(node) for node in receipt["inclusion_proof"]]
    assert merkle.verify_inclusion(leaf, receipt["leaf_index"], head.tree_size, proof, head.root())
    assert head.root() == stored_root(database, head.tree_size)


def test_a_write_that_fails_teaches_the_process_nothing(database: Database) -> None:
    store = open_store(database.url)
    try:
        receipts_of_a_write(store, "first", 5)
        with pytest.raises(UseCaseFailed), store.write() as tx:
            # Completes the subtrees of leaves 0–15 and 0–31 and proves an entry with them…
            indexes = append(tx, "undone", 27)
            ledger.receipt_now(tx, KEY, indexes[-1], NOW)
            raise UseCaseFailed  # … which the rollback takes away.
        for receipt in receipts_of_a_write(store, "kept", 40):
            assert receipt["entry"]["data"]["label"] == "kept"
            check(receipt, database)
    finally:
        store.close()


def test_another_store_on_the_database_proves_what_this_one_wrote(database: Database) -> None:
    writer, reader = open_store(database.url), open_store(database.url)
    try:
        for round_ in range(3):
            written = receipts_of_a_write(writer, f"round {round_}", 23)
            with reader.write() as tx:
                for receipt in written:
                    check(ledger.receipt_now(tx, KEY, receipt["leaf_index"], NOW), database)
            with reader.read() as tx:
                head = ledger.latest_head(tx)
                assert head is not None
                for receipt in written:
                    check(ledger.receipt(tx, receipt["leaf_index"], head), database)
    finally:
        writer.close()
        reader.close()


@pytest.mark.postgres_only
def test_leaves_another_process_appended_come_with_the_log_lock(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes (stores) write in turn: each write's receipt needs the leaves the other
    appended since, which it does not know. They are read with the log lock, in its round trip
    (storage/postgres/locks.py), not by a query of their own while every writer waits; the
    receipts still prove their entries."""
    from deconfliction.storage.postgres.locks import RECENT_LEAVES
    from deconfliction.storage.postgres.store import PostgresTransaction

    assert RECENT_LEAVES >= ledger.MIN_CACHED_SUBTREE  # the last, incomplete block's leaves
    reads: list[tuple[int, int]] = []
    read_leaf_hashes = PostgresTransaction._read_leaf_hashes

    def counted(self: PostgresTransaction, start: int, end: int) -> list[bytes]:
        reads.append((start, end))
        return read_leaf_hashes(self, start, end)

    monkeypatch.setattr(PostgresTransaction, "_read_leaf_hashes", counted)
    first, second = open_store(database.url), open_store(database.url)
    try:
        for round_ in range(12):
            for name, store in (("first", first), ("second", second)):
                for receipt in receipts_of_a_write(store, f"{name} {round_}", 1 + round_ % 3):
                    check(receipt, database)
    finally:
        first.close()
        second.close()
    assert reads == []
