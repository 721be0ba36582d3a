"""Operator commands that move a deployment between databases: `deconfliction migrate`, `export`
and `import` (the use cases are in services/transfer.py; docs/deployment.md says how to move)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from deconfliction.cli.http import fail
from deconfliction.cli.local import DbOption, settings_or_fail
from deconfliction.errors import DeconflictionError
from deconfliction.keyfile import KeyFileError
from deconfliction.services import export_file, transfer
from deconfliction.storage import DatabaseUnavailable, UnsupportedDatabase
from deconfliction.storage.schema import DESCRIPTIONS

out = Console()
err = Console(stderr=True)


@contextmanager
def _failing() -> Iterator[None]:
    """The use cases' refusals as a clear error and exit status 1."""
    try:
        yield
    except DeconflictionError as error:
        fail(escape(error.message))
    except (KeyFileError, UnsupportedDatabase, DatabaseUnavailable) as error:
        fail(escape(str(error)))


class RowsPerSecond(ProgressColumn):
    """The stage's rate, in rows (or entries, or notifications) a second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


@contextmanager
def _progress() -> Iterator[export_file.Progress]:
    """A progress bar on stderr for the stage under way (a table, the volume index, the audit)."""
    columns = (
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        RowsPerSecond(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        current: dict[str, TaskID] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in current:
                for task in current.values():
                    bar.remove_task(task)
                current.clear()
                current[what] = bar.add_task(what, total=total)
            bar.update(current[what], completed=done, total=total)

        yield update


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in counts.items():
        if rows:
            table.add_row(name, f"{rows:,}")
    empty = [name for name, rows in counts.items() if not rows]
    if empty:
        table.add_row(Text(f"empty: {', '.join(empty)}", style="dim"), "0")
    return table


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:,.1f} MiB" if size >= 1_048_576 else f"{size / 1024:,.1f} KiB"


def _when(applied_at: str) -> str:
    """A migration's time as stored (ISO 8601 in UTC), to the second."""
    return applied_at[:19].replace("T", " ")


def migrate(
    db: str | None = DbOption,
    check: bool = typer.Option(
        False, "--check", help="apply nothing; exit 1 if migrations are pending"
    ),
) -> None:
    """Operator: apply the database's pending schema migrations and show its versions.

    The service also migrates a database when it opens it; this shows what is applied, and
    `--check` tells whether a deployment needs migrating before it is upgraded or exported.
    """
    url = db or settings_or_fail().db
    with _failing():
        before = transfer.migration_status(url)
        after = before if check else transfer.migrate(url)[1]
    table = Table(title="schema migrations")
    table.add_column("version", justify="right")
    table.add_column("what it adds")
    table.add_column("applied (UTC)")
    for version, description in sorted(DESCRIPTIONS.items()):
        if version in before.applied:
            state = Text(_when(before.applied[version]))
        elif version in after.applied:
            state = Text(f"{_when(after.applied[version])} (now)", style="green")
        else:
            state = Text("pending", style="bold yellow")
        table.add_row(str(version), description, state)
    out.print(table)
    versions = f"version {max(after.applied, default=0)} of {transfer.LATEST}"
    if check and after.pending:
        where = "" if after.exists else " (there is no database yet)"
        out.print(
            f"[bold yellow]migrations pending[/]: {', '.join(map(str, after.pending))}{where}; "
            f"the database is at {versions}",
            highlight=False,
        )
        raise typer.Exit(1)
    applied = [v for v in after.applied if v not in before.applied]
    done = f"applied {', '.join(map(str, applied))}; " if applied else "nothing to apply; "
    out.print(f"{done}the database is at {versions}", highlight=False)


def export(
    db: str | None = DbOption,
    out_file: Path = typer.Option(
        ..., "--out", dir_okay=False, help="the export file to write (gzip'd JSON lines)"
    ),
) -> None:
    """Operator: write the whole deployment to an export file, for `deconfliction import`.

    Every row of every table, read from one consistent snapshot, for another database (SQLite
    or PostgreSQL). The service may keep running, though what it writes afterwards is
    not in the file, so stop it before a move. The signing key is not in the file: copy the key
    file to the target yourself. Backend-derived data (the volume index, cached log subtrees) is
    rebuilt by the import. The whole deployment moves (every mechanism, party, token, message,
    incident, webhook and the one transparency log): the log is one Merkle tree over every
    mechanism, so a single mechanism cannot be moved with its receipts still valid.
    """
    url = db or settings_or_fail().db
    with _failing(), _progress() as progress:
        summary = transfer.export_deployment(url, out_file, progress=progress)
    out.print(_counts_table("exported", summary.tables))
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    out.print(
        f"wrote {out_file}: {summary.rows:,} rows of {len(summary.tables)} tables, "
        f"{_megabytes(summary.size_bytes)}, in {summary.seconds:.1f} s ({rate:,.0f} rows/s)",
        highlight=False,
    )
    head = summary.head
    newest = (
        "none signed" if head is None else f"size {head['tree_size']}, root {head['root_hash']}"
    )
    out.print(
        f"transparency log: {summary.log_size:,} entries; newest signed head: {newest}\n"
        "the signing key is NOT in the file: copy the key file (DECONFLICTION_SIGNING_KEY_FILE, "
        "or <database file>.signing-key beside a SQLite file) to the target deployment",
        highlight=False,
        soft_wrap=True,
    )


def import_deployment(
    file: Path = typer.Argument(..., dir_okay=False, help="an export file from `export`"),
    db: str | None = DbOption,
) -> None:
    """Operator: load an export file into a new, empty database, in one transaction.

    Refuses a database that holds anything, and refuses unless the target's signing key file
    (DECONFLICTION_SIGNING_KEY_FILE, or <database file>.signing-key beside a SQLite file) holds
    the log's current key. Checks the row counts against the file, rebuilds the volume index and
    the log's cached subtrees, and checks the log (same size and newest signed head, then every
    entry, head and key as `audit verify` does) before committing: all or nothing. The whole
    deployment moves: a single mechanism cannot be moved with its receipts still valid, since
    the log is one Merkle tree over every mechanism.
    """
    settings = settings_or_fail()
    url = db or settings.db
    with _failing(), _progress() as progress:
        summary = transfer.import_deployment(
            file, url, key_file=settings.signing_key_file, progress=progress
        )
    out.print(_counts_table("imported", summary.tables))
    header, report = summary.header, summary.audit
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    out.print(
        f"imported {summary.rows:,} rows from {file} (exported {header.exported_at} from "
        f"{header.source.get('backend')}) in {summary.seconds:.1f} s ({rate:,.0f} rows/s); "
        f"{summary.volumes_indexed:,} volumes indexed",
        highlight=False,
    )
    head = header.head
    newest = (
        "no signed head"
        if head is None
        else (f"the newest signed head (size {head['tree_size']}, root {head['root_hash']})")
    )
    out.print(
        f"[green]the log verifies[/]: {report.entries:,} entries, {report.heads:,} signed heads, "
        f"{report.keys} key(s), {report.rotations} rotation(s); the same size and {newest} as "
        "the export",
        highlight=False,
        soft_wrap=True,
    )
