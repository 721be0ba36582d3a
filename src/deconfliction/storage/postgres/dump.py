"""Rows of the shared tables in and out of a PostgreSQL database as they are stored, and the
migrations it has, read without migrating it (services/transfer.py; the SQLite side and the
catalog of shared tables are in sqlite/dump.py).

Rows are read through a server-side cursor (a table of millions is never held in memory), in
byte order of their keys whatever the database's collation, and written with COPY. Identity
columns take up after the largest imported value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from deconfliction.storage import DatabaseUnavailable
from deconfliction.storage.postgres.store import PostgresTransaction
from deconfliction.storage.sqlite.dump import BATCH, RowsRefused, Table

# Listed by the store in the order they were added (ledger.py), which their key does not keep.
ADDITION_ORDER = {"service_keys": "added"}


def applied_migrations(url: str) -> dict[int, str]:
    """The versions the database has and when each was applied. Read-only."""
    try:
        with psycopg.connect(url, autocommit=True) as db:
            if db.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
                return {}
            rows = db.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"cannot open the PostgreSQL database: {error}") from error
    return {int(version): str(at) for version, at in rows}


class PostgresRows:
    """The shared tables' rows, as stored, inside one of the store's transactions (the calls
    of sqlite/dump.py's SqliteRows)."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.cursors = 0

    def count(self, table: str) -> int:
        row = self.connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def indexed_volumes(self) -> int:
        return self.count("volumes")

    def read(self, table: Table) -> Iterator[tuple[Any, ...]]:
        kinds = {column.name: column.kind for column in table.columns}
        order = ADDITION_ORDER.get(table.name) or ", ".join(
            f'{name} COLLATE "C"' if kinds[name] == "text" else name for name in table.primary_key
        )
        self.cursors += 1
        with self.connection.cursor(name=f"dump_{self.cursors}", row_factory=tuple_row) as cursor:
            cursor.itersize = BATCH
            cursor.execute(f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {order}")
            yield from cursor

    def write(self, table: Table, rows: Iterable[Sequence[Any]]) -> None:
        statement = f"COPY {table.name} ({', '.join(table.names)}) FROM STDIN"
        try:
            with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as error:
            raise RowsRefused(str(error).strip()) from error

    def set_column(self, table: Table, column: str, values: list[tuple[Any, ...]]) -> None:
        where = " AND ".join(f"{key} = %s" for key in table.primary_key)
        try:
            with self.connection.cursor() as cursor:
                cursor.executemany(f"UPDATE {table.name} SET {column} = %s WHERE {where}", values)
        except psycopg.Error as error:
            raise RowsRefused(str(error).strip()) from error

    def batched(self) -> AbstractContextManager[Any]:
        """Statements sent without waiting for each one's answer (pipeline mode) until the
        block ends: writes whose results nobody reads (rebuilding the volume index) cost one
        round trip per block, not per statement."""
        return self.connection.pipeline()

    def continue_identities(self, tables: Sequence[Table]) -> None:
        """Set each identity column's sequence to continue after the largest value stored."""
        names = [table.name for table in tables]
        identities = self.connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES' "
            "AND identity_generation = 'BY DEFAULT' AND table_name = ANY(%s)",
            (names,),
        ).fetchall()
        for table, column in identities:
            self.connection.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max({column}), 0) + 1, "
                f"false) FROM {table}",
                (table, column),
            )


def rows_of(tx: PostgresTransaction) -> PostgresRows:
    return PostgresRows(tx.db.connection)
