"""Queries that must not read a whole table as it grows: SQLite's plans for the statements the
store itself runs (recorded as it runs them on an empty database).

(PostgreSQL's planner chooses by the tables' statistics; tests/storage/test_postgres.py checks the
candidate search there.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from backends import Database, Databases

from deconfliction.domain.volumes import Box
from deconfliction.services.ports import Transaction
from deconfliction.storage import open_store

pytestmark = pytest.mark.sqlite_only(reason="SQLite's query plans")


@pytest.fixture
def database(databases: Databases) -> Database:
    return databases.new()


class Recording:
    """A connection that records each statement executed through it, with its parameters."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: Any = ()) -> Any:
        self.statements.append((sql, tuple(params)))
        return self._connection.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def plans_of(database: Database, use: Callable[[Transaction], object], *, write: bool) -> str:
    """The query plans of the statements `use` runs through a store transaction."""
    store = open_store(database.url)
    try:
        with store.write() if write else store.read() as tx:
            recording = Recording(tx.db)  # type: ignore[attr-defined]
            tx.db = recording  # type: ignore[attr-defined]
            use(tx)
            tx.db = recording._connection  # type: ignore[attr-defined]
    finally:
        store.close()
    assert recording.statements, "the use ran no statement"
    return " || ".join(
        " | ".join(str(row[-1]) for row in database.rows(f"EXPLAIN QUERY PLAN {sql}", params))
        for sql, params in recording.statements
    )


def test_an_entrys_audience_is_read_by_key_not_by_scanning_every_entrys(
    database: Database,
) -> None:
    found = plans_of(database, lambda tx: tx.log_audience(7), write=False)
    assert "SEARCH a USING PRIMARY KEY (party_id=? AND idx=?)" in found, found
    assert "SCAN a" not in found, found


@pytest.mark.parametrize(
    ("use", "write"),
    [
        (lambda tx: tx.conflicts(party=None, mechanism_id="mec_a", state=None, limit=100), False),
        (lambda tx: tx.conflicts(party=None, mechanism_id="mec_a", state="open", limit=100), False),
        (lambda tx: tx.delete_mechanism_rows("conflicts", "mec_a"), True),
    ],
    ids=["operator's listing", "operator's open ones", "a move's delete"],
)
def test_a_mechanisms_conflicts_are_read_in_order_from_their_index(
    database: Database, use: Callable[[Transaction], object], write: bool
) -> None:
    found = plans_of(database, use, write=write)
    assert "USING INDEX conflicts_mechanism (mechanism_id=?)" in found, found
    assert "TEMP B-TREE" not in found, found


@pytest.mark.parametrize("overdue_at", [None, 1.9e9], ids=["pending", "overdue"])
def test_a_partys_pending_and_overdue_items_are_read_in_deadline_order_from_their_index(
    database: Database, overdue_at: float | None
) -> None:
    found = plans_of(
        database,
        lambda tx: tx.inbox_items(
            party_id="pty_a",
            mechanism_id=None,
            pending_only=overdue_at is None,
            overdue_at=overdue_at,
            limit=100,
        ),
        write=False,
    )
    assert "USING INDEX inbox_pending (party_id=?" in found, found
    assert "TEMP B-TREE" not in found, found


@pytest.mark.parametrize(
    ("party", "plan"),
    [
        (
            "pty_a",  # only the party's open conflicts, then put in order
            "MULTI-INDEX OR | INDEX 1 | SEARCH conflicts USING INDEX conflicts_open_a (party_a=?) "
            "| INDEX 2 | SEARCH conflicts USING INDEX conflicts_open_b (party_b=?) "
            "| USE TEMP B-TREE FOR ORDER BY",
        ),
        (None, "SCAN conflicts USING INDEX conflicts_open"),  # in order: the first `limit` only
    ],
    ids=["a party's", "the operator's"],
)
def test_open_conflicts_are_read_from_their_own_indexes_not_among_every_conflict(
    database: Database, party: str | None, plan: str
) -> None:
    found = plans_of(
        database,
        lambda tx: tx.conflicts(party=party, mechanism_id=None, state="open", limit=100),
        write=False,
    )
    assert found == plan


def test_a_partys_listing_in_a_box_reads_only_the_boxs_index_hits_and_their_conflicts(
    database: Database,
) -> None:
    """The index is searched once for both halves of the listing; the party's own hits are told
    by the index's party column, the others' by looking up each hit's conflicts with the party:
    never the party's every notification or every conflict, nor a volume row a hit."""
    box = Box((0.1, 0.2, 0.3, 0.0, 1.7e9), (0.4, 0.5, 0.6, 100.0, 1.8e9))
    found = plans_of(
        database,
        lambda tx: tx.notifications(
            "mec_a",
            visible_to="pty_a",
            state=None,
            now=1.75e9,
            start=None,
            end=None,
            limit=100,
            within=box,
        ),
        write=False,
    )
    assert found.count("SCAN volume_index VIRTUAL TABLE") == 1, found  # once for both
    # from the index alone: a conflict row, with its overlaps, is never read to be dismissed
    assert "SEARCH c USING COVERING INDEX conflicts_na_pb (notification_a=? AND party_b=?)" in found
    assert "SEARCH c USING COVERING INDEX conflicts_nb_pa (notification_b=? AND party_a=?)" in found
    for whole_set in ("conflicts_a ", "conflicts_b ", "SCAN notifications", "SEARCH v "):
        assert whole_set not in found, found


@pytest.mark.parametrize(
    "use",
    [
        lambda tx: tx.conflicts_of_notifications(["ntf_a", "ntf_b"]),
        lambda tx: tx.conflicts_between("pty_a", ["ntf_a", "ntf_b"]),
        lambda tx: tx.acknowledgements("conflict", ["cfl_a", "cfl_b"]),
        lambda tx: tx.parties_among(["pty_a", "pty_b"]),
    ],
    ids=["whole views' conflicts", "overlap views' conflicts", "acknowledgements", "parties"],
)
def test_a_pages_views_read_what_they_show_by_key_not_by_scanning(
    database: Database, use: Callable[[Transaction], object]
) -> None:
    found = plans_of(database, use, write=False)
    assert "SCAN" not in found, found
    assert "conflicts_a " not in found and "conflicts_b " not in found, found  # a party's all
