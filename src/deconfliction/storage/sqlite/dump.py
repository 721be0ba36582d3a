"""Rows of the shared tables in and out of a SQLite database as they are stored, and the
migrations a database has, read without migrating it: what moving a whole deployment to another
database needs below the store's use-case queries (services/transfer.py).

The shared tables are read from their one definition (storage/schema.py): its statements are run
in a throw-away in-memory database and SQLite reports their columns, kinds, primary keys and
references. The PostgreSQL side (postgres/dump.py) reuses the catalog and overrides how rows are
read and written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any

from deconfliction.storage import DatabaseUnavailable, sqlite_path
from deconfliction.storage.schema import TABLES, tables
from deconfliction.storage.sqlite.migrations import TYPES
from deconfliction.storage.sqlite.store import SqliteTransaction

BATCH = 2_000
KINDS = {"TEXT": "text", "INTEGER": "integer", "REAL": "real", "BLOB": "blob"}
# Listed by the store in the order they were added (ledger.py), which their key does not keep.
ADDITION_ORDER = {"service_keys": "rowid"}


class RowsRefused(ValueError):
    """The database refused rows being written (a constraint, a type); the message says why."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "text", "integer", "real" or "blob"


@dataclass(frozen=True)
class Table:
    """A shared table: its columns in order, its primary key, and the columns that refer to
    another row of the same table (column, referenced column)."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    self_references: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


@cache
def shared_tables() -> tuple[Table, ...]:
    """Every table storage/schema.py defines, in the order its migrations create them (so each
    comes after the tables it refers to)."""
    with closing(sqlite3.connect(":memory:")) as db:
        for version in sorted(TABLES):
            for statement in tables(version, TYPES).split(";"):
                if statement.strip():
                    db.execute(statement)
        names = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        found = []
        for name in names:
            info = db.execute(f"PRAGMA table_info({name})").fetchall()
            keys = db.execute(f"PRAGMA foreign_key_list({name})").fetchall()
            found.append(
                Table(
                    name=name,
                    columns=tuple(Column(row[1], KINDS[row[2]]) for row in info),
                    primary_key=tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]),
                    self_references=tuple((key[3], key[4]) for key in keys if key[2] == name),
                )
            )
    return tuple(found)


def applied_migrations(url: str) -> dict[int, str] | None:
    """The versions the database has and when each was applied; None if there is no file.
    Read-only: neither creates nor migrates the database."""
    path = sqlite_path(url)
    if not path.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            if not db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            ).fetchone():
                return {}
            rows = db.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    except sqlite3.DatabaseError as error:
        raise DatabaseUnavailable(f"cannot read the SQLite database {path}: {error}") from error
    return {int(version): str(at) for version, at in rows}


class SqliteRows:
    """The shared tables' rows, as stored, inside one of the store's transactions."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def count(self, table: str) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def indexed_volumes(self) -> int:
        """How many volumes the candidate index holds (it is built from the notifications)."""
        return self.count("volumes")

    def read(self, table: Table) -> Iterator[tuple[Any, ...]]:
        """Every row, values in the table's column order, by primary key (by addition where the
        store lists them so)."""
        order = ADDITION_ORDER.get(table.name) or ", ".join(table.primary_key)
        cursor = self.db.execute(
            f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {order}"
        )
        while batch := cursor.fetchmany(BATCH):
            yield from (tuple(row) for row in batch)

    def write(self, table: Table, rows: Iterable[Sequence[Any]]) -> None:
        """Insert rows given in the table's column order (consumed as they come)."""
        marks = ", ".join("?" * len(table.columns))
        try:
            self.db.executemany(
                f"INSERT INTO {table.name} ({', '.join(table.names)}) VALUES ({marks})", rows
            )
        except sqlite3.Error as error:
            raise RowsRefused(str(error)) from error

    def set_column(self, table: Table, column: str, values: list[tuple[Any, ...]]) -> None:
        """Set one column of rows named by primary key: each value is (new value, *key)."""
        where = " AND ".join(f"{key} = ?" for key in table.primary_key)
        try:
            self.db.executemany(f"UPDATE {table.name} SET {column} = ? WHERE {where}", values)
        except sqlite3.Error as error:
            raise RowsRefused(str(error)) from error

    def batched(self) -> AbstractContextManager[None]:
        """Statements sent as they come: nothing to batch in a database in the process."""
        return nullcontext()

    def continue_identities(self, tables: Sequence[Table]) -> None:
        """Nothing to do: an INTEGER PRIMARY KEY continues after the largest stored, and
        AUTOINCREMENT's counter is raised by rows inserted with their ids."""


def rows_of(tx: SqliteTransaction) -> SqliteRows:
    return SqliteRows(tx.db)
