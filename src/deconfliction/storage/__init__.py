"""Storage adapters behind one interface, chosen by database URL (see services/ports.py)."""

from __future__ import annotations

from pathlib import Path

from deconfliction.services.ports import Store

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql:", "postgres:")


class UnsupportedDatabase(ValueError):
    """The database URL names a backend this build does not provide."""


class DatabaseUnavailable(ValueError):
    """The database URL names a database that cannot be reached or opened."""


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///relative` or `sqlite:////absolute` URL."""
    if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX):
        raise UnsupportedDatabase(f"not a sqlite:/// URL with a file path: {url!r}")
    return Path(url[len(SQLITE_PREFIX) :])


def open_store(url: str) -> Store:
    """Open (and migrate) the store a database URL names; UnsupportedDatabase or
    DatabaseUnavailable if it cannot."""
    if url.startswith("sqlite:"):
        from deconfliction.storage.sqlite.store import SqliteStore

        return SqliteStore(sqlite_path(url))
    if url.startswith(POSTGRES_SCHEMES):
        from deconfliction.storage.postgres.store import PostgresStore

        return PostgresStore(url)
    raise unknown_scheme(url)


def unknown_scheme(url: str) -> UnsupportedDatabase:
    """The error for a URL of neither backend."""
    return UnsupportedDatabase(
        f"unknown database URL scheme in {url.split(':', 1)[0]!r}; "
        "expected sqlite:///path or postgresql://host/database"
    )
