"""The databases tests open: a SQLite file, or, when DECONFLICTION_TEST_DB names a PostgreSQL
server (e.g. postgresql://127.0.0.1/test), a fresh database on it for each test.

A PostgreSQL test database is copied from a template migrated once per session (CREATE DATABASE
… TEMPLATE, a file copy: far quicker than migrating), and dropped when the test ends, by a
background thread while the next test runs. Its signing key lives in the test's folder (a
PostgreSQL database has no file to keep it beside).
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from deconfliction.keyfile import key_path_for
from deconfliction.storage import POSTGRES_SCHEMES, open_store
from deconfliction.storage.postgres.connection import translate

SERVER = os.environ.get("DECONFLICTION_TEST_DB", "")
ON_POSTGRES = SERVER.startswith(POSTGRES_SCHEMES)
PREFIX = f"dctest_{os.getpid()}"
TEMPLATE = f"{PREFIX}_template"
LEFTOVER = re.compile(r"dctest_([0-9]+)_\w+")
_numbers = itertools.count(1)
_template_ready = False


@dataclass(frozen=True)
class Database:
    """A database a test may open: its URL, the signing key file to give with it (None on
    SQLite: the key's default place beside the file), and its file (SQLite only)."""

    url: str
    key_file: Path | None
    path: Path | None

    @property
    def name(self) -> str:
        """The PostgreSQL database's name."""
        return urlsplit(self.url).path.lstrip("/")

    @property
    def signing_key(self) -> Path:
        """The file of the service's signing key: the one given, else its default."""
        return key_path_for(self.url, str(self.key_file) if self.key_file else None)

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run one statement (SQLite's `?` placeholders) straight on the database, committed, as
        someone with direct access would, foreign keys unchecked; the rows it returns."""
        if self.path is not None:
            with closing(sqlite3.connect(self.path)) as db, db:
                return [tuple(row) for row in db.execute(sql, params).fetchall()]
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute("SET session_replication_role = replica")
            cursor = db.execute(translate(sql), params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def server_env(self) -> dict[str, str]:
        """The environment that points a server process at this database."""
        env = {"DECONFLICTION_DB": self.url}
        if self.key_file is not None:
            env["DECONFLICTION_SIGNING_KEY_FILE"] = str(self.key_file)
        return env


def _url(name: str) -> str:
    return urlsplit(SERVER)._replace(path=f"/{name}").geturl()


def _admin(statement: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as db:
        db.execute(statement)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_leftovers() -> None:
    """Drop the databases of test runs that died before they could (their process is gone)."""
    with psycopg.connect(SERVER, autocommit=True) as db:
        names = [row[0] for row in db.execute("SELECT datname FROM pg_database")]
    for name in names:
        match = LEFTOVER.fullmatch(name)
        if match and not _alive(int(match[1])):
            _drop(name)


def _ensure_template() -> None:
    global _template_ready
    if not _template_ready:
        _drop_leftovers()
        _drop(TEMPLATE)  # a process of this number before
        _admin(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0 LOCALE 'C.UTF-8'")
        open_store(_url(TEMPLATE)).close()
        _template_ready = True


class Databases:
    """The databases of a test (or a module), made on demand and dropped when it ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.created: list[str] = []

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def new(self, name: str = "t.db") -> Database:
        """A new, empty database; `name` is the SQLite file's name in the test's folder."""
        path = self.folder / name
        if not ON_POSTGRES:
            return Database(f"sqlite:///{path}", None, path)
        _ensure_template()
        return self._copied(TEMPLATE, path)

    def copy(self, source: Database, name: str) -> Database:
        """A copy of a database nobody has open, under `name`; it shares the source's key."""
        path = self.folder / name
        if source.path is not None:
            with closing(sqlite3.connect(source.path)) as live:
                with closing(sqlite3.connect(path)) as target:
                    live.backup(target)
            return Database(f"sqlite:///{path}", None, path)
        return replace(self._copied(source.name, path), key_file=source.key_file)

    def _copied(self, template: str, path: Path) -> Database:
        database = f"{PREFIX}_{next(_numbers)}"
        _admin(f"CREATE DATABASE {database} TEMPLATE {template}")
        self.created.append(database)
        return Database(_url(database), path.with_name(path.name + ".signing-key"), None)

    def drop(self) -> None:
        """Have every database this test made dropped (whatever connections are left closed)."""
        global _dropper
        if self.created and _dropper is None:
            _dropper = threading.Thread(target=_drop_queued, name="drop-databases", daemon=True)
            _dropper.start()
        for database in self.created:
            _doomed.put(database)
        self.created = []


_doomed: queue.Queue[str | None] = queue.Queue()
_dropper: threading.Thread | None = None
_failed: list[str] = []  # tried again, raising this time, at the end of the session


def _drop(database: str) -> None:
    _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _drop_queued() -> None:
    while (database := _doomed.get()) is not None:
        try:
            _drop(database)
        except psycopg.Error:
            _failed.append(database)


def drop_template() -> None:
    """At the end of the session: wait for the queued drops (retrying any that failed), and drop
    the template too."""
    if _dropper is not None:
        _doomed.put(None)
        _dropper.join()
    for database in _failed:
        _drop(database)
    if _template_ready:
        _drop(TEMPLATE)
