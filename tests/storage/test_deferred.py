"""A write transaction's deferred appends (storage/deferred.py), on both backends: they run in
the order they were made, just before the commit and inside the transaction, so a use case that
fails leaves none of them; a receipt asked for mid-way writes them first; a read transaction
cannot defer a write; and the subtrees a receipt needs are read together."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from backends import Databases

from deconfliction.services import ledger
from deconfliction.services.events import Recorded, record_event
from deconfliction.services.ports import Store, Transaction
from deconfliction.storage import open_store

AT = "2031-05-01T06:00:00Z"


@pytest.fixture
def store(databases: Databases) -> Iterator[Store]:
    opened = open_store(databases.new().url)
    with opened.write() as tx:
        tx.insert_mechanism(
            {"id": "mec_a", "name": "a", "area_json": None, "rules_json": "{}", "created_at": AT}
        )
    yield opened
    opened.close()


def record(tx: Transaction, subject: str) -> Recorded:
    return record_event(tx, "mec_a", "test", subject, [], {"n": subject}, AT)


def test_events_are_appended_at_the_commit_in_the_order_they_were_recorded(store: Store) -> None:
    with store.write() as tx:
        record(tx, "s1")
        record(tx, "s2")
        assert tx.last_event_id() == 0 and tx.log_size() == 0  # nothing appended yet
        record(tx, "s3")
    with store.read() as tx:
        events = tx.events_after(None, "", 0, 10)
        entries = tx.log_entries(0, 10)
    assert [e["subject_id"] for e in events] == ["s1", "s2", "s3"]
    assert [e["subject_id"] for e in entries] == ["s1", "s2", "s3"]
    assert [e["idx"] for e in entries] == [0, 1, 2]


def test_asking_for_an_index_appends_what_was_recorded_before_and_keeps_the_order(
    store: Store,
) -> None:
    with store.write() as tx:
        first = record(tx, "s1")
        second = record(tx, "s2")
        assert second.log_index == 1 and first.log_index == 0
        assert (first.event_id, second.event_id) == (1, 2)
        record(tx, "s3")
        direct = ledger.record(
            tx, "direct", at=AT, mechanism_id=None, subject_id="d", audience=[], by=None, data={}
        )
        assert direct == 3  # s3, deferred, went in first
    with store.read() as tx:
        assert [e["subject_id"] for e in tx.log_entries(0, 10)] == ["s1", "s2", "s3", "d"]


def test_a_use_case_that_fails_appends_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="refused"), store.write() as tx:
        record(tx, "s1")
        raise RuntimeError("refused")
    with store.read() as tx:
        assert tx.last_event_id() == 0 and tx.log_size() == 0


def test_a_read_transaction_cannot_defer_a_write(store: Store) -> None:
    with pytest.raises(RuntimeError, match="read transaction"), store.read() as tx:
        record(tx, "s1")


def test_the_subtrees_are_read_together_exactly_as_stored(store: Store) -> None:
    stored = {(0, 16): b"a" * 32, (16, 16): b"b" * 32, (0, 32): b"c" * 32, (32, 16): b"d" * 32}
    with store.write() as tx:
        for (start, size), digest in stored.items():
            tx.put_log_subtree(start, size, digest)
    with store.read() as tx:
        assert tx.log_subtrees([(0, 32), (16, 16), (48, 16), (64, 64)]) == {
            (0, 32): b"c" * 32,
            (16, 16): b"b" * 32,
        }
        assert tx.log_subtrees([]) == {}
