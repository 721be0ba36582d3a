"""Moving a whole deployment between databases (SQLite ⇄ PostgreSQL): schema migrations, an
export file of every shared table's rows, and its import into an empty database, checked.

The transparency log is one Merkle tree over every mechanism's entries, so one mechanism cannot
be cut out of it with its receipts still valid: the unit moved is the whole database.

The export file (its format: services/export_file.py) holds every shared table's rows. What a
backend derives (the candidate index of volumes, the log's cached subtree hashes) is not in it:
the import rebuilds it with the store's own code, then, before it commits, checks the log: the
same size and newest signed head, and every entry, head and key (the audit of services/audit.py).
The signing key is never in the file: the import refuses unless the target's key file holds the
log's current key.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from deconfliction.domain.times import format_instant
from deconfliction.errors import NotFound, StateConflict
from deconfliction.keyfile import KeyFileError, key_path_for, read_key
from deconfliction.proof.tree_head import key_id
from deconfliction.services import export_file, ledger, volume_index
from deconfliction.services.audit import AuditReport, audit_log
from deconfliction.services.context import Clock, system_clock
from deconfliction.services.export_file import CHUNK, Header, Progress, Reader
from deconfliction.services.ports import Row, Store, Transaction
from deconfliction.storage import POSTGRES_SCHEMES, open_store, sqlite_path, unknown_scheme
from deconfliction.storage.schema import DESCRIPTIONS
from deconfliction.storage.sqlite.dump import RowsRefused, Table, shared_tables

LATEST = max(DESCRIPTIONS)
# Rebuilt, not exported: the log's cache of complete subtrees (ledger.py), and the volume
# index's journal of recent changes (storage/sqlite/index_changes.py), written as it is indexed.
DERIVED = ("log_subtrees", "index_changes", "index_changes_pruned")


class Rows(Protocol):
    """A backend's shared tables, rows as stored, in one of its store's transactions
    (storage/sqlite/dump.py, storage/postgres/dump.py)."""

    def count(self, table: str) -> int: ...
    def indexed_volumes(self) -> int: ...
    def read(self, table: Table) -> Iterator[tuple[Any, ...]]: ...
    def write(self, table: Table, rows: Iterable[Sequence[Any]]) -> None: ...
    def set_column(self, table: Table, column: str, values: list[tuple[Any, ...]]) -> None: ...
    def batched(self) -> AbstractContextManager[Any]: ...
    def continue_identities(self, tables: Sequence[Table]) -> None: ...


@dataclass(frozen=True)
class Backend:
    name: str
    applied_migrations: Callable[[str], dict[int, str] | None]
    rows: Callable[[Any], Rows]


def backend(url: str) -> Backend:
    """The row access of the backend a database URL names (imported only when used)."""
    if url.startswith(POSTGRES_SCHEMES):
        from deconfliction.storage.postgres import dump as postgres

        return Backend("postgresql", postgres.applied_migrations, postgres.rows_of)
    if url.startswith("sqlite:"):
        from deconfliction.storage.sqlite import dump as sqlite

        return Backend("sqlite", sqlite.applied_migrations, sqlite.rows_of)
    raise unknown_scheme(url)


def exported_tables() -> tuple[Table, ...]:
    """The shared tables an export holds, in the order it holds them."""
    return tuple(table for table in shared_tables() if table.name not in DERIVED)


# -- migrations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationStatus:
    """The schema migrations a database has (version → when applied); `exists` is False for a
    SQLite file not made yet."""

    exists: bool
    applied: dict[int, str]

    @property
    def pending(self) -> list[int]:
        return [version for version in sorted(DESCRIPTIONS) if version not in self.applied]


def migration_status(url: str) -> MigrationStatus:
    """What the database has, read without creating or migrating it."""
    applied = backend(url).applied_migrations(url)
    return MigrationStatus(applied is not None, applied or {})


def migrate(url: str) -> tuple[MigrationStatus, MigrationStatus]:
    """Apply the pending migrations, as opening the store does; the status before and after."""
    before = migration_status(url)
    open_store(url).close()
    return before, migration_status(url)


# -- export ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    size_bytes: int
    tables: dict[str, int]
    log_size: int
    head: dict[str, Any] | None
    seconds: float

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _source(url: str, name: str) -> dict[str, str]:
    """The source named without credentials: the file's or the database's name."""
    database = sqlite_path(url).name if name == "sqlite" else urlsplit(url).path.lstrip("/")
    return {"backend": name, "database": database}


def export_deployment(
    url: str, out: Path, *, progress: Progress | None = None, clock: Clock = system_clock
) -> ExportSummary:
    """Write every row of the deployment in `url` to `out` (replaced atomically), from one
    consistent snapshot: the service may keep running meanwhile. The source is never changed."""
    started = time.monotonic()
    source = backend(url)
    status = migration_status(url)
    if not status.exists:
        raise NotFound(f"no database at {sqlite_path(url)}")
    if status.pending or set(status.applied) - set(DESCRIPTIONS):
        raise StateConflict(
            f"the database is not at schema version {LATEST} (it has versions "
            f"{sorted(status.applied)}): run `deconfliction migrate --db …` with this version "
            "of deconfliction first; an export never changes its source"
        )
    store = open_store(url)
    try:
        with store.read() as tx:
            rows = source.rows(tx)
            tables = exported_tables()
            counts = {table.name: rows.count(table.name) for table in tables}
            log_size = tx.log_size()
            newest = tx.latest_log_head()
            head = None if newest is None else ledger.head_of(newest).to_json()
            keys = tx.service_keys()
            header = {
                "format": export_file.FORMAT,
                "version": export_file.VERSION,
                "schema_version": LATEST,
                "exported_at": format_instant(clock()),
                "source": _source(url, source.name),
                "tables": counts,
                "log": {"size": log_size, "head": head},
                "service_keys": [
                    {
                        name: key[name]
                        for name in ("key_id", "public_key", "activated_at", "retired_at")
                    }
                    for key in keys
                ],
                "signing_key_id": next(
                    (key["key_id"] for key in keys if key["retired_at"] is None), None
                ),
            }
            export_file.write(out, header, [(t, rows.read(t)) for t in tables], progress)
    finally:
        store.close()
    return ExportSummary(
        out, out.stat().st_size, counts, log_size, head, time.monotonic() - started
    )


# -- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    header: Header
    volumes_indexed: int
    audit: AuditReport
    seconds: float

    @property
    def tables(self) -> dict[str, int]:
        return self.header.tables

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _check_key(header: Header, url: str, key_file: str | None) -> None:
    """Refuse unless the target's key file holds the log's current signing key."""
    expected = header.signing_key_id
    if expected is None:
        return
    advice = (
        f"the imported log is signed with key {expected}: copy the source deployment's signing "
        "key file (its DECONFLICTION_SIGNING_KEY_FILE, or <database file>.signing-key beside a "
        "SQLite file) to"
    )
    try:
        path = key_path_for(url, key_file)
    except KeyFileError as error:
        raise KeyFileError(
            f"{error}; {advice} that path (mode 600); nothing was imported"
        ) from error
    try:
        key = read_key(path)
    except KeyFileError as error:
        raise KeyFileError(f"{error}; {advice} {path} (mode 600); nothing was imported") from error
    if key_id(key.verify_key) != expected:
        raise KeyFileError(
            f"the signing key in {path} has key id {key_id(key.verify_key)}, not the imported "
            f"log's current key; {advice} {path} (mode 600); nothing was imported"
        )


def _require_empty(rows: Rows) -> None:
    filled = {table.name: n for table in shared_tables() if (n := rows.count(table.name))}
    if volumes := rows.indexed_volumes():
        filled["volumes"] = volumes
    if filled:
        shown = ", ".join(f"{name}: {n}" for name, n in list(filled.items())[:6])
        raise StateConflict(
            f"the target database is not empty ({shown} rows): import only into a new, empty "
            "database (create it, and do not run `init` or `serve` on it before the import); "
            "nothing was imported"
        )


def _import_table(
    rows: Rows, reader: Reader, table: Table, expected: int, progress: Progress | None
) -> None:
    """The table's rows from the file into the database. A reference to a row of the same table
    (a reply's message) is set once every row is in: keys are not in creation order."""
    first = reader.number + 1
    positions = {name: i for i, name in enumerate(table.names)}
    key = [positions[name] for name in table.primary_key]
    held: dict[str, list[tuple[Any, ...]]] = {column: [] for column, _ in table.self_references}

    def stream() -> Iterator[tuple[Any, ...]]:
        for done, row in enumerate(reader.rows(table, expected), start=1):
            if held:
                values = list(row)
                for column, waiting in held.items():
                    if values[positions[column]] is not None:
                        waiting.append((values[positions[column]], *(row[i] for i in key)))
                        values[positions[column]] = None
                row = tuple(values)
            yield row
            if progress and (done % CHUNK == 0 or done == expected):
                progress(table.name, done, expected)

    try:
        rows.write(table, stream())
        for column, waiting in held.items():
            rows.set_column(table, column, waiting)
    except RowsRefused as error:
        raise reader.error(
            f"the target database refused the rows of {table.name}: {error}",
            f"lines {first}–{reader.number}",
        ) from error
    stored = rows.count(table.name)
    if stored != expected:
        raise reader.error(f"{table.name} holds {stored} rows after the import, not {expected}")


def _index_volumes(tx: Transaction, rows: Rows, progress: Progress | None) -> int:
    """Index the volumes of every notification not cancelled (what notifying and revising
    index, and cancelling removes), through the store's own `replace_volumes`; a chunk of
    notifications at a time, its writes batched."""
    (table,) = [t for t in shared_tables() if t.name == "notifications"]
    total, done, indexed = rows.count(table.name), 0, 0
    stored = rows.read(table)
    while chunk := [
        dict(zip(table.names, v, strict=True)) for v in itertools.islice(stored, CHUNK)
    ]:
        with rows.batched():
            for row in chunk:
                indexed += volume_index.index(tx, row)
        done += len(chunk)
        if progress:
            progress("volume index", done, total)
    return indexed


class _Within:
    """The import's own transaction offered as a store's snapshot, so that the audit reads the
    imported rows before they are committed (audit_log only reads)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        yield self.tx


def _verify(tx: Transaction, header: Header, progress: Progress | None) -> AuditReport:
    size = tx.log_size()
    if size != header.log_size:
        raise StateConflict(f"the imported log holds {size} entries, the export {header.log_size}")
    newest: Row | None = tx.latest_log_head()
    head = None if newest is None else ledger.head_of(newest).to_json()
    if head != header.head:
        raise StateConflict(f"the newest signed head is {head}, the export's {header.head}")
    if newest is not None:
        signed = ledger.head_of(newest)
        if ledger.tree(tx).root(signed.tree_size) != signed.root():
            raise StateConflict("the rebuilt log's root at the newest head is not the head's")

    def audited(done: int, total: int) -> None:
        if progress is not None:
            progress("audit", done, total)

    report = audit_log(cast(Store, _Within(tx)), audited)
    if not report.ok:
        first = report.findings[0]
        raise StateConflict(
            f"the imported log does not verify: {len(report.findings) + report.omitted} "
            f"problem(s), the first {first.check}: {first.message} (entry {first.index}, "
            f"{first.head or 'no head'}); nothing was imported"
        )
    return report


def import_deployment(
    path: Path, url: str, *, key_file: str | None, progress: Progress | None = None
) -> ImportSummary:
    """Load an export file into the empty database `url` in one transaction, rebuild what the
    backend derives, and check the log before committing: all or nothing."""
    started = time.monotonic()
    target = backend(url)
    tables = exported_tables()
    with export_file.reading(path) as reader:
        header = reader.header(schema_version=LATEST, tables=[t.name for t in tables])
        _check_key(header, url, key_file)
        store = open_store(url)
        try:
            with store.write() as tx:
                rows = target.rows(tx)
                _require_empty(rows)
                for table in tables:
                    _import_table(rows, reader, table, header.tables[table.name], progress)
                reader.end(sum(header.tables.values()))
                rows.continue_identities(tables)
                indexed = _index_volumes(tx, rows, progress)
                ledger.tree(tx).extend(0, tx.log_size())
                report = _verify(tx, header, progress)
        finally:
            store.close()
    return ImportSummary(header, indexed, report, time.monotonic() - started)
