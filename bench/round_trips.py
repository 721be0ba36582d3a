"""Benchmark: what one notify asks of its database — statements, round trips, and CPU.

`bench/load.py` times requests over HTTP with 16 clients; on a shared host its figures move by
10–20 % from one run to the next, more than a change of a few statements makes. This script
counts instead. One party's notifies run one after another through the use cases, in-process,
as the API runs them: the bearer token authenticated (`tokens.authenticate`), then `notify` in
the party's own mechanism, on a fresh database of each backend. What reaches the database is
counted exactly, the same on every run:

- SQLite: every statement (sqlite3's trace callback), BEGIN and COMMIT included;
- PostgreSQL: every statement and every round trip, read from libpq's protocol trace of each
  connection: a statement is an Execute or a Query message (BEGIN and COMMIT are Queries), a
  round trip each turn from the client's messages to the server's answer. A round trip costs
  both processes a wake-up: ~40 µs of PostgreSQL's CPU and ~75 µs of the client's on this
  project's 2-core hosts (docs/postgresql.md).

The CPU a notify takes — in this process, and in every `postgres` process — is timed too. One
request at a time it moves less than under load, but it is a timing: compare figures of one run.

Run from the project root: `.venv/bin/python bench/round_trips.py [--db postgresql://…]`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import conflicts as gen
import numpy as np
import prefill
import psycopg
from load import postgres_cpu

from deconfliction.runtime import open_context
from deconfliction.services import admin, tokens
from deconfliction.services.context import Actor, Context
from deconfliction.services.notifications import notify
from deconfliction.storage.sqlite.store import SqliteStore

DEFAULT_PG = "postgresql://postgres@127.0.0.1/postgres"


class SqliteStatements:
    """Every statement of every connection the SQLite store opens, counted between start and
    stop (sqlite3's trace callback)."""

    def __init__(self) -> None:
        self.on = False
        self.statements = 0
        self.round_trips = 0  # none to count: SQLite runs in the process

    @contextmanager
    def watching(self) -> Iterator[None]:
        connect = SqliteStore._connect

        def traced(store: SqliteStore) -> sqlite3.Connection:
            connection = connect(store)

            def trace(_statement: str) -> None:
                self.statements += self.on

            connection.set_trace_callback(trace)
            return connection

        SqliteStore._connect = traced  # type: ignore[method-assign]
        try:
            yield
        finally:
            SqliteStore._connect = connect  # type: ignore[method-assign]

    def start(self) -> None:
        self.on = True

    def stop(self) -> None:
        self.on = False


class ProtocolTraces:
    """libpq's protocol trace of every psycopg connection between start and stop, one file
    each, and the statements and round trips read from them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.on = False
        self.statements = 0
        self.round_trips = 0
        self.connections: list[psycopg.Connection[Any]] = []
        self.traced: list[tuple[psycopg.Connection[Any], int, Path]] = []

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Learn of every connection psycopg opens meanwhile."""
        connect = psycopg.Connection.connect

        def opened(cls: type[psycopg.Connection[Any]], *args: Any, **kwargs: Any) -> Any:
            connection = connect.__func__(cls, *args, **kwargs)  # type: ignore[attr-defined]
            self.connections.append(connection)
            if self.on:
                self._trace(connection)
            return connection

        psycopg.Connection.connect = classmethod(opened)  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            psycopg.Connection.connect = connect  # type: ignore[method-assign]

    def _trace(self, connection: psycopg.Connection[Any]) -> None:
        path = self.folder / f"trace-{len(self.traced)}.txt"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        connection.pgconn.trace(descriptor)
        connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        self.traced.append((connection, descriptor, path))

    def start(self) -> None:
        self.on = True
        for connection in self.connections:
            if not connection.closed:
                self._trace(connection)

    def stop(self) -> None:
        """Stop, and count statements (Execute and Query messages) and round trips (each turn
        from the client's messages to the server's answer)."""
        self.on = False
        for connection, descriptor, _path in self.traced:
            if not connection.closed:
                connection.pgconn.untrace()  # flushes libpq's stream
            os.close(descriptor)
        for _connection, _descriptor, path in self.traced:
            previous = ""
            for line in path.read_text().splitlines():
                direction, _length, message = line.split("\t")[:3]
                if direction == "F" and message in ("Execute", "Query"):
                    self.statements += 1
                if direction == "B" and previous == "F":
                    self.round_trips += 1
                previous = direction
        self.traced.clear()


def _party(ctx: Context, operator: Actor, mechanism_id: str) -> str:
    """A new member party of the mechanism; its bearer token."""
    party = admin.create_party(ctx, operator, name="Bench party", code="BENCH")
    admin.add_member(ctx, operator, mechanism_id=mechanism_id, party_id=party["id"])
    token = tokens.create_party_token(ctx, operator, party_id=party["id"], label="bench")
    return str(token["token"])


def measure(url: str, folder: Path, notifies: int, warmup: int) -> dict[str, float]:
    """Per notify: statements, round trips (PostgreSQL), CPU here and in PostgreSQL. The CPU is
    timed over `notifies` notifies with nothing counting, then the next `notifies` are counted."""
    on_postgres = not url.startswith("sqlite")
    counter = ProtocolTraces(folder) if on_postgres else SqliteStatements()
    with counter.watching():
        ctx, _ = open_context(url, folder / "signing-key", clock=lambda: gen.NOW)
        try:
            operator = tokens.authenticate(ctx, tokens.create_operator_token(ctx))
            rules = prefill.rules().to_json()
            mechanism = admin.create_mechanism(ctx, operator, name="bench", rules=rules)
            token = _party(ctx, operator, mechanism["id"])
            total = warmup + 2 * notifies
            draws = gen.draw(np.random.default_rng(7), total, 1)
            bodies = [prefill.notify_body(draws, i, f"bench {i}")[1] for i in range(total)]

            def request(body: dict[str, Any]) -> None:
                actor = tokens.authenticate(ctx, token)
                notify(ctx, actor, mechanism_id=mechanism["id"], body=body)

            for body in bodies[:warmup]:
                request(body)
            pg0 = postgres_cpu() if on_postgres else 0.0
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for body in bodies[warmup : warmup + notifies]:
                request(body)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            pg = postgres_cpu() - pg0 if on_postgres else 0.0
            counter.start()
            for body in bodies[warmup + notifies :]:
                request(body)
            counter.stop()
        finally:
            ctx.store.close()
    return {
        "statements": counter.statements / notifies,
        "round_trips": counter.round_trips / notifies,
        "cpu_ms": 1e3 * cpu / notifies,
        "pg_ms": 1e3 * pg / notifies,
        "wall_ms": 1e3 * wall / notifies,
    }


@contextmanager
def fresh_postgres(server: str) -> Iterator[str]:
    """A new database on the server (`server` names any database on it), with the C collation
    the store's docs ask for; dropped afterwards."""
    name = "bench_round_trips"

    def drop() -> None:
        with psycopg.connect(server, autocommit=True) as admin_connection:
            admin_connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    with psycopg.connect(server, autocommit=True) as admin_connection:
        admin_connection.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE 'C.UTF-8'")
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        drop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        default=DEFAULT_PG,
        help=f"a PostgreSQL server's database URL; "
        f"a fresh database is made beside it (default {DEFAULT_PG}); 'none': SQLite only",
    )
    parser.add_argument("--notifies", type=int, default=500, help="notifies counted (500)")
    parser.add_argument("--warmup", type=int, default=50, help="notifies before counting (50)")
    args = parser.parse_args(argv)
    if args.db != "none" and not args.db.startswith(("postgresql://", "postgres://")):
        parser.error(f"--db must be a postgresql:// URL or none, not {args.db!r}")
    if args.notifies < 1 or args.warmup < 6:
        parser.error("--notifies must be ≥ 1 and --warmup ≥ 6 (psycopg prepares at the 6th run)")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        print(f"SQLite: {args.warmup} + {args.notifies} notifies …", file=sys.stderr)
        results["SQLite"] = measure(
            f"sqlite:///{folder}/bench.db", Path(folder), args.notifies, args.warmup
        )
        if args.db != "none":
            with fresh_postgres(args.db) as url:
                print(f"PostgreSQL: {args.warmup} + {args.notifies} notifies …", file=sys.stderr)
                results["PostgreSQL"] = measure(url, Path(folder), args.notifies, args.warmup)
    print(
        f"\n# bench/round_trips.py — {args.notifies} notifies, one at a time, each "
        "authenticated first\n"
    )
    print(
        "| backend | statements a notify | round trips a notify | CPU here ms | "
        "CPU in postgres ms | wall ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for backend, r in results.items():
        trips = f"{r['round_trips']:.2f}" if backend == "PostgreSQL" else "—"
        pg = f"{r['pg_ms']:.2f}" if backend == "PostgreSQL" else "—"
        print(
            f"| {backend} | {r['statements']:.2f} | {trips} | {r['cpu_ms']:.2f} | {pg} | "
            f"{r['wall_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
