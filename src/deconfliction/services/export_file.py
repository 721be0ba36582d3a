"""The export file that moves a deployment between databases (services/transfer.py): written
and read here, values typed, every problem reported with the line it is on.

An export file is gzip'd JSON lines:

    {"format": "deconfliction-export", "version": 1, "schema_version": 4, "exported_at": "…Z",
     "source": {"backend": "sqlite", "database": "line.db"}, "tables": {"parties": 4, …},
     "log": {"size": 120, "head": {the newest signed tree head} | null},
     "service_keys": [{"key_id", "public_key", "activated_at", "retired_at"}, …],
     "signing_key_id": "the current key's id" | null}
    {"table": "parties", "columns": [["id", "text"], …], "rows": 4}
    ["pty_…", "North", …]                   a row: a JSON array of its values, in column order
    …                                       every table's section and rows, in the header's order
    {"end": {"rows": 1234, "sha256": "<hex SHA-256 of every line above, as written>"}}

Rows come in primary-key order (service keys in the order they were added, as the store lists
them). Values: text and integers as JSON; reals as JSON numbers written with Python's repr, which
reads back as the very same double; blobs as standard base64; NULL as null.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from deconfliction.errors import InvalidInput, StateConflict
from deconfliction.storage.sqlite.dump import Table

FORMAT = "deconfliction-export"
VERSION = 1
CHUNK = 1_000  # rows written at a time, and how often progress is reported

Progress = Callable[[str, int, int], None]
"""(what, done, total): called as a table's rows (or a later stage of an import) advance."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# -- values ------------------------------------------------------------------------------------


def _text_out(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r}, not text")
    return value


def _integer_out(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r}, not an integer")
    return value


def _real_out(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r}, not a number")
    return float(value)


def _blob_out(value: Any) -> str:
    if not isinstance(value, bytes | memoryview):
        raise TypeError(f"{value!r}, not bytes")
    return base64.b64encode(value).decode("ascii")


def _text_in(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    return value


def _integer_in(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("must be an integer")
    return value


def _real_in(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("must be a number")
    return float(value)


def _blob_in(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise TypeError(f"must be base64 text ({error})") from error


TO_JSON: dict[str, Callable[[Any], Any]] = {
    "text": _text_out,
    "integer": _integer_out,
    "real": _real_out,
    "blob": _blob_out,
}
FROM_JSON: dict[str, Callable[[Any], Any]] = {
    "text": _text_in,
    "integer": _integer_in,
    "real": _real_in,
    "blob": _blob_in,
}


def _columns(table: Table) -> list[list[str]]:
    return [[column.name, column.kind] for column in table.columns]


# -- writing ------------------------------------------------------------------------------------


def _encoder(table: Table) -> Callable[[Sequence[Any]], str]:
    """A row of `table` as its line; StateConflict naming the row by its key (its other values
    may be secrets) and the column if a value does not fit its column's kind."""
    converters = [TO_JSON[column.kind] for column in table.columns]

    def key(row: Sequence[Any]) -> dict[str, Any]:
        return {name: row[table.names.index(name)] for name in table.primary_key}

    def encode(row: Sequence[Any]) -> str:
        values = []
        for column, convert, value in zip(table.columns, converters, row, strict=True):
            try:
                values.append(None if value is None else convert(value))
            except TypeError as error:
                raise StateConflict(
                    f"{table.name}.{column.name} of the row {key(row)} holds {error} (a "
                    f"{column.kind} column): it cannot be exported"
                ) from error
        try:
            return _dumps(values)
        except ValueError as error:  # NaN or infinity, which JSON cannot carry
            raise StateConflict(
                f"the row {key(row)} of {table.name} cannot be exported: {error}"
            ) from error

    return encode


def write(
    out: Path,
    header: dict[str, Any],
    sections: Iterable[tuple[Table, Iterable[Sequence[Any]]]],
    progress: Progress | None = None,
) -> None:
    """Write the file: the header, then each table's section and rows (as many as the header's
    `tables` counts), then the end line; to a temporary file, synced, renamed over `out`."""
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    counts: dict[str, int] = header["tables"]
    try:
        with temporary.open("wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as packed:

                def put(lines: list[str]) -> None:
                    data = "".join(line + "\n" for line in lines).encode("utf-8")
                    digest.update(data)
                    packed.write(data)

                put([_dumps(header)])
                for table, rows in sections:
                    total = counts[table.name]
                    put([_dumps({"table": table.name, "columns": _columns(table), "rows": total})])
                    encode, chunk, done = _encoder(table), [], 0
                    for row in rows:
                        chunk.append(encode(row))
                        if len(chunk) == CHUNK:
                            put(chunk)
                            done, chunk = done + len(chunk), []
                            if progress:
                                progress(table.name, done, total)
                    put(chunk)
                    if done + len(chunk) != total:
                        raise StateConflict(f"{table.name} changed while it was being exported")
                    if progress:
                        progress(table.name, total, total)
                end = {"end": {"rows": sum(counts.values()), "sha256": digest.hexdigest()}}
                packed.write((_dumps(end) + "\n").encode("utf-8"))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, out)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InvalidInput.one(str(out), f"cannot write the export file: {error}") from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """What an export file's first line says."""

    exported_at: str
    source: dict[str, Any]
    tables: dict[str, int]
    log_size: int
    head: dict[str, Any] | None
    service_keys: list[dict[str, Any]]
    signing_key_id: str | None


class Reader:
    """An export file's lines in order, numbered, with the digest of those read so far.

    Every problem is an InvalidInput naming the file and the line (or where the data stopped)."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self.handle = handle
        self.number = 0
        self.digest = hashlib.sha256()

    def error(self, reason: str, where: str | None = None) -> InvalidInput:
        place = where or f"line {self.number}"
        return InvalidInput.one(f"{self.path.name} {place}", f"{reason}; nothing was imported")

    def line(self, *, hashed: bool = True) -> bytes | None:
        """The next line; None at the end of the file."""
        after = f"after line {self.number}"
        try:
            data = self.handle.readline()
        except EOFError as error:
            raise self.error(
                "the file is truncated: its compressed data ends here", after
            ) from error
        except gzip.BadGzipFile as error:
            if self.number == 0:
                raise self.error(
                    f"not a gzip'd deconfliction export ({error})", "line 1"
                ) from error
            raise self.error(f"the file is corrupted: {error}", after) from error
        except (OSError, zlib.error) as error:
            raise self.error(f"the file is corrupted: {error}", after) from error
        if not data:
            return None
        self.number += 1
        if not data.endswith(b"\n"):
            raise self.error("the line is cut short: the file is truncated")
        if hashed:
            self.digest.update(data)
        return data

    def json(self, what: str, *, hashed: bool = True) -> Any:
        data = self.line(hashed=hashed)
        if data is None:
            raise self.error(
                f"the file ends before {what}: it is truncated", f"after line {self.number}"
            )
        try:
            return json.loads(data, parse_constant=_refuse_constant)
        except ValueError as error:
            raise self.error(f"not JSON ({error}) where {what} should be") from error

    def header(self, *, schema_version: int, tables: list[str]) -> Header:
        """The header, checked: this format, this schema version, these tables in this order."""
        found = self.json("the header")
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            raise self.error(f"not a deconfliction export (its first line names no {FORMAT!r})")
        if found.get("version") != VERSION:
            raise self.error(
                f"export format version {found.get('version')!r}; this deconfliction reads "
                f"version {VERSION}"
            )
        if found.get("schema_version") != schema_version:
            raise self.error(
                f"exported at schema version {found.get('schema_version')!r}, but this "
                f"deconfliction's is {schema_version}: import it with the version that exported "
                "it, or export again with this one"
            )
        try:
            log = found["log"]
            header = Header(
                exported_at=str(found["exported_at"]),
                source=dict(found["source"]),
                tables={str(name): int(n) for name, n in found["tables"].items()},
                log_size=int(log["size"]),
                head=None if log["head"] is None else dict(log["head"]),
                service_keys=[dict(key) for key in found["service_keys"]],
                signing_key_id=found["signing_key_id"],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            message = f"the header is malformed ({type(error).__name__}: {error})"
            raise self.error(message) from error
        if list(header.tables) != tables:
            raise self.error(f"the header lists the tables {list(header.tables)}, not {tables}")
        return header

    def rows(self, table: Table, expected: int) -> Iterator[tuple[Any, ...]]:
        """The table's section, checked against this table and the header's count, then its
        rows, decoded, as they are read."""
        section = self.json(f"the section of table {table.name}")
        if not isinstance(section, dict) or section.get("table") != table.name:
            raise self.error(f"expected the section of table {table.name}")
        if section.get("columns") != _columns(table):
            raise self.error(f"the columns of {table.name} are not {_columns(table)}")
        if section.get("rows") != expected:
            raise self.error(
                f"the section gives {section.get('rows')!r} rows of {table.name}, the header "
                f"{expected}"
            )
        converters = list(
            zip(table.columns, (FROM_JSON[c.kind] for c in table.columns), strict=True)
        )
        for done in range(expected):
            data = self.line()
            if data is None:
                raise self.error(
                    f"the file ends after {done} of the {expected} rows of {table.name}: it is "
                    "truncated",
                    f"after line {self.number}",
                )
            try:
                values = json.loads(data, parse_constant=_refuse_constant)
            except ValueError as error:
                raise self.error(
                    f"not JSON ({error}) where a row of {table.name} should be"
                ) from error
            if isinstance(values, dict) and ("table" in values or "end" in values):
                raise self.error(f"{table.name} has fewer rows than its section gives")
            if not isinstance(values, list) or len(values) != len(converters):
                raise self.error(
                    f"a row of {table.name} must be an array of its {len(converters)} column values"
                )
            row = []
            for (column, convert), value in zip(converters, values, strict=True):
                try:
                    row.append(None if value is None else convert(value))
                except TypeError as error:
                    raise self.error(f"{table.name}.{column.name} {error}") from error
            yield tuple(row)

    def end(self, total: int) -> None:
        """The end line: the row count and the digest of every line before it; then nothing."""
        digest = self.digest.hexdigest()
        end = self.json("the end line", hashed=False)
        if not isinstance(end, dict) or not isinstance(end.get("end"), dict):
            raise self.error("expected the end line: the last table has more rows than it says")
        if end["end"].get("rows") != total:
            raise self.error(f"the end line counts {end['end'].get('rows')!r} rows, not {total}")
        if end["end"].get("sha256") != digest:
            raise self.error("the lines above are not those exported (their SHA-256 differs)")
        if self.line(hashed=False) is not None:
            raise self.error("there is more after the end line")


@contextmanager
def reading(path: Path) -> Iterator[Reader]:
    """The file open for reading; an InvalidInput if it cannot be opened."""
    try:
        handle = gzip.open(path, "rb")
    except OSError as error:
        raise InvalidInput.one(str(path), f"cannot read the file: {error}") from error
    with handle:
        yield Reader(path, cast(IO[bytes], handle))
