"""A psycopg connection that speaks the SQLite adapter's dialect of placeholders and rows.

The SQLite query mixins are written in SQL both databases accept, with `?` and `:name`
placeholders; here they become psycopg's `%s` and `%(name)s`, and rows read like `sqlite3.Row`
(by column name or by position), so those mixins run unchanged on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import psycopg

_PLACEHOLDER = re.compile(r"\?|(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """`?` → `%s` and `:name` → `%(name)s` (a `::cast` is left alone; `%` is escaped)."""
    escaped = sql.replace("%", "%%")
    return _PLACEHOLDER.sub(lambda m: "%s" if m.group(0) == "?" else f"%({m.group(1)})s", escaped)


class Record(tuple[Any, ...]):
    """A row read by position or, as `sqlite3.Row` is, by column name (`dict(row)` works)."""

    names: tuple[str, ...]

    def keys(self) -> tuple[str, ...]:
        return self.names

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self.names.index(key))
        return super().__getitem__(key)


def records(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], Record]:
    """psycopg row factory making `Record`s. The column names are read from the result as
    psycopg's own row factories read them: `cursor.description` would build a `Column` object
    for every column of every statement's result, rows or not (~6 % of the samples holding
    the interpreter lock in a profile of notifies, docs/postgresql.md)."""
    result = cursor.pgresult
    fields = [] if result is None else [result.fname(i) for i in range(result.nfields)]
    names = tuple((field or b"").decode("utf-8") for field in fields)

    def make(values: Sequence[Any]) -> Record:
        record = Record(values)
        record.names = names
        return record

    return make


def _text(value: Any) -> Any:
    return value.replace("\x00", "\ufffe") if isinstance(value, str) and "\x00" in value else value


def storable(params: Any) -> Any:
    """The parameters with NUL characters, which PostgreSQL text cannot hold, sent as U+FFFE.

    No text the service stores holds either character (free text is printable, ids are made
    here), so a lookup by such a value finds nothing, as it does on SQLite, instead of failing.
    """
    if isinstance(params, dict):
        return {name: _text(value) for name, value in params.items()}
    return [_text(value) for value in params]


class Sql:
    """One pooled connection inside a transaction, with the SQLite adapter's call shapes."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.pipeline: contextlib.AbstractContextManager[psycopg.Pipeline] | None = None

    def start_pipeline(self) -> None:
        """From now on, send statements without waiting for each one's result (libpq pipeline
        mode): a statement whose rows are read waits for them, the others do not. An error of
        an unread statement surfaces at the next read or at `end_pipeline`, failing the
        transaction as it would have at once."""
        if self.pipeline is None:
            self.pipeline = self.connection.pipeline()
            self.pipeline.__enter__()

    def end_pipeline(self, error: BaseException | None) -> None:
        """Wait for every statement sent (raising the first one's error), before the commit; or,
        when the transaction is failing with `error`, leave the pipeline for the rollback
        without raising another error over it."""
        if self.pipeline is None:
            return
        pipeline, self.pipeline = self.pipeline, None
        if error is None:
            pipeline.__exit__(None, None, None)
            return
        with contextlib.suppress(psycopg.Error):
            pipeline.__exit__(type(error), error, error.__traceback__)

    def execute(self, sql: str, params: Any = ()) -> psycopg.Cursor[Any]:
        return self.connection.execute(translate(sql), storable(params))

    def executemany(self, sql: str, rows: Sequence[Any]) -> None:
        if rows:
            with self.connection.cursor() as cursor:
                cursor.executemany(translate(sql), [storable(row) for row in rows])
