"""Benchmark: the service under load over HTTP (issue #7) and its scaling with API processes on
PostgreSQL (issue #6), every backend in one run.

For each `--db` (`sqlite`, and/or a `postgresql://…/name` URL whose database is made afresh):

1. **Fill**: one mechanism with `--n` (10⁶) notifications of bench/conflicts.py's distribution
   (a 600 km square, 0–12 km altitude) from `--parties` (20) member parties, over a year: the
   `--history-days` (274) before T0 and the `--future-days` (91) after it, the days the traffic
   notifies in — a mechanism's history and what is planned ahead. The traffic's own notifies
   join the stored ones there, so the days ahead are many: the density a notify meets (~0.5
   conflicts at 10⁶) then stays nearly as the fill left it through a phase and a 10-minute soak
   (with the 7 days ahead used until 2026-12-08 a soak at 10⁶ added as many again as the fill
   had in them, and the conflicts a notify grew with it). The `overlap` phase notifies in the
   first 7 days (`--history-days 0 --future-days 7` puts all N in one week: then a notify
   meets ~26 stored ones, each a conflict with its system message to acknowledge), written
   through the store's own writes with their events and log entries (bench/prefill.py), not over
   HTTP. On SQLite each is checked against those before it as a notify would be, its conflicts
   recorded with their system messages, and both parties acknowledge each conflict and message
   (~250,000 conflicts at 10⁶, ~2,500 at 10⁵): a mechanism's year whose parties read what they
   were told, so listings and views carry the conflicts a real one would, and no deadline is left
   for the scheduler to escalate. On PostgreSQL, whose store writes these at ~100 a second, only
   the first 2,000 go through the store; the rest (notifications and their volume index rows) are
   COPY'd by bench/conflicts_pg.py, which first checks that COPY writes the rows the store wrote,
   and come without creation events or log entries; COPY brings no conflicts, so the PostgreSQL
   fill stores none. `--keep DIR` keeps the filled stores and reuses them
   in later runs. Each process count, and the soak, runs on a fresh copy of the filled store
   (SQLite's backup API; PostgreSQL's CREATE DATABASE … TEMPLATE), removed afterwards: every
   count starts from the same N and the same overlap square, and the kept store never grows.
   Within a count the phases add to the copy (N is printed before each phase).
2. **Servers**: `--processes` (1,2,4) API processes of the working tree on PostgreSQL,
   `--sqlite-processes` (1,2) on the SQLite file (their writers take turns through its writer
   lock, as `deconfliction serve --workers N`'s do), each `serving_app` under uvicorn as
   `deconfliction serve` runs them (access log on, the garbage collector settled), over the
   filled store, on a clock that starts at the fill's "now" and runs with real time (every
   process the same). Client i talks to process i mod k: no proxy in between.
3. **Phases**, each `--seconds` (30) with `--concurrency` (16) clients, a client being one
   connection issuing its next request as soon as its last is answered:
   - `notify`: notifications spread like the stored ones, each checked against the N stored;
   - `overlap`: every notification inside one 20 km square and the first 7 days ahead, areas
     1–5 km: many conflicts each;
   - `mix`: notify 30 %, revise 10, cancel 5, list (a ~10 km box) 25, acknowledge (a conflict
     or message the party was shown) 20, message 10 — random parties of the 20;
   - `mechanisms`: notify, but client i writes in its own small mechanism (16 of them, made over
     the operator API): traffic where no two writers share a mechanism — issue #6's
     "non-overlapping traffic" for its scaling target.
4. **Soak** (`--soak S`, e.g. 600; first backend, one process): the mix at 70 % of the rate the
   mix phase reached, issued at a fixed rate; per 30 s window the rate, p99 (all requests and
   the notifies'), the conflicts a notify/revise met (whether the data a request meets stayed
   as it was) and the server's memory.

It prints, per backend and process count, requests/s and p50/p99 per operation, the servers' and
the client's CPU, and the verdicts: ≥ 800 notifications/s at N = 10⁶ (`notify`), p99 ≤ 50 ms at
16 clients (`mix`), ≥ 400 notifications/s overlapping (`overlap`) on SQLite, each judged on the
best of its process counts; 2 processes ≥ 1.5× one (`mechanisms`, PostgreSQL), beside the
most this machine's cores could give at one process's CPU a request (`cpu_ceiling`: where the
database and the client share the API's cores, the target may lie above it). Every non-2xx
answer and transport error is counted and printed; a 5xx fails the run.

Run from the project root: `.venv/bin/python bench/load.py` (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import conflicts as gen
import httpx
import numpy as np
import prefill
import uvloop
from load_traffic import Bodies, Record, Target, Traffic
from revision import source_revision
from server_process import HOST, Server, free_port, start

from deconfliction.config import RANGES, Settings

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OPERATOR = "operator-token-for-the-load-benchmark-00000000001"
SERVE_FLAG = "--serve"
PHASES = ("notify", "overlap", "mix", "mechanisms")
SOAK_WINDOW_S = 30.0
# One window of the soak: its start (s), requests/s, p99 ms, the notifies' p99 ms, conflicts a
# notify/revise, the server's VmRSS and RssAnon (MB).
SoakWindow = tuple[float, float, float, float, float, float, float]
SOAK_SHARE = 0.7
THROUGH_STORE = 2_000  # PostgreSQL: the rest by COPY, without their events and log entries
MAX_RATE = 1_500  # notify bodies drawn per second of a phase: more than the service can take
TARGETS = {"notify_per_s": 800.0, "mix_p99_ms": 50.0, "overlap_per_s": 400.0, "scale_2": 1.5}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Command line.


@dataclass(frozen=True)
class Config:
    dbs: list[str]
    n: int
    parties: int
    concurrency: int
    seconds: float
    processes: list[int]
    sqlite_processes: list[int]
    phases: list[str]
    soak: float
    seed: int
    keep: Path | None
    fill_only: bool
    history_days: int
    future_days: int
    request_threads: int | None  # None: the store's own (`threads_for`)


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        action="append",
        help="sqlite, or a postgresql:// URL whose database is (re)made for the run; repeat "
        "for several (default: sqlite)",
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="notifications filled (10⁶)")
    parser.add_argument("--parties", type=int, default=20, help="member parties (20)")
    parser.add_argument("--concurrency", type=int, default=16, help="clients (16)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds a phase (30)")
    parser.add_argument(
        "--processes",
        default="1,2,4",
        help="API process counts on PostgreSQL, comma-separated (1,2,4)",
    )
    parser.add_argument(
        "--sqlite-processes",
        default="1,2",
        help="API process counts on the SQLite file, comma-separated (1,2)",
    )
    parser.add_argument(
        "--request-threads",
        type=int,
        default=None,
        help="request threads of each API process (DECONFLICTION_REQUEST_THREADS; default: the "
        "product's, the store's own: 16 on SQLite, 4 on PostgreSQL)",
    )
    parser.add_argument("--phases", default=",".join(PHASES), help="phases to run, in order")
    parser.add_argument("--soak", type=float, default=0.0, help="soak seconds (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--history-days",
        type=int,
        default=274,
        help="days of stored notifications before the days the traffic notifies in (274)",
    )
    parser.add_argument(
        "--future-days",
        type=int,
        default=91,
        help="days ahead the stored notifications and the traffic's start in (91; the overlap "
        "phase's, everyone in one place, in the first 7)",
    )
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the filled stores here")
    parser.add_argument(
        "--fill-only", action="store_true", help="fill the stores (with --keep) and stop"
    )
    parser.add_argument("--quick", action="store_true", help="N = 5,000, 5 s phases: smoke only")
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"--phases: unknown {', '.join(unknown)}; choose from {', '.join(PHASES)}")

    def counts(option: str, text: str) -> list[int]:
        try:
            found = sorted({int(p) for p in text.split(",")})
        except ValueError:
            parser.error(f"{option}: whole numbers separated by commas, not {text!r}")
        if not found or min(found) < 1 or max(found) > 8:
            parser.error(f"{option}: counts from 1 to 8")
        return found

    processes = counts("--processes", args.processes)
    sqlite_processes = counts("--sqlite-processes", args.sqlite_processes)
    low, high = RANGES["request_threads"]
    if args.request_threads is not None and not low <= args.request_threads <= high:
        parser.error(f"--request-threads: a whole number, {low:g}–{high:g}")
    if args.history_days < 0 or args.future_days < gen.DAYS:
        parser.error(
            f"--history-days: 0 or more; --future-days: at least {gen.DAYS} (the overlap "
            "phase's week)"
        )
    if args.fill_only and args.keep is None:
        parser.error("--fill-only needs --keep DIR: the filled stores are kept there")
    dbs = args.db or ["sqlite"]
    for db in dbs:
        if db != "sqlite" and not db.startswith(("postgresql://", "postgres://")):
            parser.error(f"--db: sqlite or a postgresql:// URL, not {db!r}")
    return Config(
        dbs=dbs,
        n=5_000 if args.quick else args.n,
        parties=args.parties,
        concurrency=args.concurrency,
        seconds=5.0 if args.quick else args.seconds,
        processes=processes,
        sqlite_processes=sqlite_processes,
        phases=phases,
        soak=args.soak,
        seed=args.seed,
        keep=args.keep,
        fill_only=args.fill_only,
        history_days=args.history_days,
        future_days=args.future_days,
        request_threads=args.request_threads,
    )


# The filled store.


@dataclass(frozen=True)
class Filled:
    url: str
    key_file: Path
    backend: str

    def count(self) -> int:
        """Notifications stored now."""
        sql = "SELECT count(*) FROM notifications"
        if self.backend == "SQLite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as db:
                return int(db.execute(sql).fetchone()[0])
        import psycopg

        with psycopg.connect(self.url) as db:
            row = db.execute(sql).fetchone()
            return int(row[0]) if row else 0


@contextmanager
def fresh_copy(filled: Filled, name: str) -> Iterator[Filled]:
    """A copy of the filled store for one process count (or the soak), removed afterwards, so
    that each starts from the same N and the same crowded overlap square."""
    log(f"[{filled.backend}] copying the filled store for {name}")
    if filled.backend == "SQLite":
        source = Path(filled.url.removeprefix("sqlite:///"))
        path = source.with_name(f"{source.name}.{name}")
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(path)) as dst:
            src.backup(dst)
        try:
            yield Filled(f"sqlite:///{path}", filled.key_file, filled.backend)
        finally:
            for leftover in path.parent.glob(f"{path.name}*"):
                leftover.unlink()
        return
    import psycopg

    parts = urlsplit(filled.url)
    copy = f"{parts.path.lstrip('/')}_{name}"
    admin = parts._replace(path="/postgres").geturl()

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')

    drop()
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{parts.path.lstrip("/")}"')
    try:
        yield Filled(parts._replace(path=f"/{copy}").geturl(), filled.key_file, filled.backend)
    finally:
        drop()


def _fill(store: Any, key_file: Path, config: Config, label: str, copy_url: str = "") -> None:
    """Fill through the store; with `copy_url` (PostgreSQL), only the first THROUGH_STORE, the
    rest by COPY (rows checked to be the store's own first)."""
    started = time.perf_counter()
    data = _generated(config)
    gen.set_up(store, config.parties, prefill.rules())
    prefill.add_tokens(store, config.parties)
    keys = prefill.open_service_keys(store, key_file)
    written = min(config.n, THROUGH_STORE) if copy_url else config.n
    # COPY brings no conflicts, so on PostgreSQL none are stored, not even the first ones'
    prefill.store_notifications(store, data, written, label, with_conflicts=not copy_url)
    if copy_url and written < config.n:
        import conflicts_pg

        first = data.rows[:written], data.placed[:written], data.boxes[:written]
        conflicts_pg.check_copy_matches_store(copy_url, *first)
        rest = data.rows[written:], data.placed[written:], data.boxes[written:]
        for done in conflicts_pg.bulk_fill(copy_url, *rest):
            log(f"[{label}] copied {done:,}")
        conflicts_pg.analyze(copy_url)
    size = prefill.sign_head(store, keys)
    log(f"[{label}] filled in {time.perf_counter() - started:.0f} s; log {size:,} entries")


_DATA: dict[tuple[int, ...], Any] = {}


def _generated(config: Config) -> Any:
    """The fill's notifications, generated once a run (every backend gets the same)."""
    key = (config.n, config.seed, config.parties, config.history_days, config.future_days)
    if key not in _DATA:
        log(
            f"generating {config.n:,} volumes (seed {config.seed}, {config.history_days} d back, "
            f"{config.future_days} d ahead)"
        )
        _DATA[key] = gen.generate(*key[:3], 200, prefill.rules(), *key[3:])
    return _DATA[key]


def _ensure_operator(filled: Filled) -> None:
    from deconfliction.runtime import open_context
    from deconfliction.services import tokens

    ctx, _ = open_context(filled.url, filled.key_file)
    try:
        tokens.ensure_operator_token(ctx, OPERATOR)
    finally:
        ctx.store.close()


def _span(config: Config) -> str:
    """The fill's days back and ahead, as its file names carry them."""
    return f"h{config.history_days}-f{config.future_days}"


def sqlite_store(config: Config, directory: Path) -> Filled:
    from deconfliction.storage.sqlite.store import SqliteStore

    path = directory / f"load-{config.n}-{_span(config)}-conflicts.sqlite"
    filled = Filled(f"sqlite:///{path}", path.with_name(path.name + ".signing-key"), "SQLite")
    done = path.with_name(path.name + ".filled")
    if done.exists():
        log(f"[SQLite] reusing the filled store {path}")
    else:
        for stale in directory.glob(f"{path.name}*"):
            stale.unlink()
        store = SqliteStore(path)
        try:
            _fill(store, filled.key_file, config, "SQLite")
        finally:
            store.close()
        done.touch()
    _ensure_operator(filled)
    return filled


def postgres_store(config: Config, url: str, directory: Path) -> Filled:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from deconfliction.storage.postgres.store import PostgresStore

    name = str(conninfo_to_dict(url).get("dbname") or "")
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"--db {url}: name a database of its own for the benchmark")
    stem = f"{name}-{config.n}-{_span(config)}"
    filled = Filled(url, directory / f"{stem}.signing-key", "PostgreSQL")
    done = directory / f"{stem}.filled"
    if done.exists():
        log(f"[PostgreSQL] reusing the filled database {name}")
    else:
        admin = make_conninfo(url, dbname="postgres")
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            db.execute(f'CREATE DATABASE "{name}"')
        filled.key_file.unlink(missing_ok=True)
        store = PostgresStore(url)
        try:
            _fill(store, filled.key_file, config, "PostgreSQL", copy_url=url)
        finally:
            store.close()
        done.touch()
    _ensure_operator(filled)
    return filled


# The servers.


def worker_serve(spec: dict[str, Any]) -> None:
    """Serve the working tree's API over the filled store until SIGINT (in a worker process)."""
    from datetime import timedelta

    import uvicorn

    from deconfliction.api.app import serving_app
    from deconfliction.runtime import open_context

    origin = spec["origin"]

    def clock() -> Any:
        return gen.NOW + timedelta(seconds=time.time() - origin)

    ctx, created = open_context(spec["url"], spec["key_file"], clock=clock)
    if created:
        raise SystemExit("the filled store's signing key was not found")
    settings = Settings(
        db=spec["url"], signing_key_file=spec["key_file"], request_threads=spec["threads"]
    )
    uvicorn.run(serving_app(ctx, settings), host=HOST, port=spec["port"], log_level="info")


def threads_for(config: Config, backend: str) -> int:
    """The request threads each API process serves the backend with: the setting's, else the
    store's own, as `create_app` chooses."""
    from deconfliction.storage.postgres.store import PostgresStore
    from deconfliction.storage.sqlite.store import SqliteStore

    store = SqliteStore if backend == "SQLite" else PostgresStore
    return config.request_threads or store.request_threads


def start_servers(
    filled: Filled, count: int, threads: int, origin: float, directory: Path
) -> list[Server]:
    servers: list[Server] = []
    try:
        for i in range(count):
            port = free_port()
            spec = {"url": filled.url, "key_file": str(filled.key_file), "port": port}
            spec["origin"], spec["threads"] = origin, threads
            command = [sys.executable, str(BENCH / "load.py"), SERVE_FLAG, json.dumps(spec)]
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            log_path = directory / f"server-{filled.backend}-{count}-{i}.log"
            servers.append(start(command, env, ROOT, port, log_path))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def own_mechanisms(url: str, parties: list[str], count: int) -> list[str]:
    """`count` small mechanisms, every party a member: made over the operator API once."""
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=60
    ) as op:
        listed = op.get("/v1/mechanisms")
        listed.raise_for_status()
        have = sorted(m["id"] for m in listed.json() if m["name"].startswith("load-own-"))
        while len(have) < count:
            made = op.post("/v1/mechanisms", json={"name": f"load-own-{len(have):02d}"})
            made.raise_for_status()
            mechanism = made.json()["id"]
            for party in parties:
                added = op.post(f"/v1/mechanisms/{mechanism}/members", json={"party_id": party})
                added.raise_for_status()
            have.append(mechanism)
    return have[:count]


def cpu_of(servers: list[Server]) -> float:
    return sum(s.cpu_seconds() or 0.0 for s in servers)


def rss_mb(server: Server, field: str = "VmRSS") -> float:
    """A memory figure of the server (/proc/<pid>/status) in MB: VmRSS, all it holds in memory
    (with SQLite's memory-mapped file pages), or RssAnon, its own heap."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def postgres_cpu() -> float:
    """CPU seconds of every `postgres` process on this machine (the server's backends too)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        if name == "postgres":
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# The phases.


@dataclass
class Phase:
    backend: str
    processes: int
    threads: int  # request threads of each process
    name: str
    stored: int
    record: Record
    server_cpu: float
    client_cpu: float
    postgres_cpu: float | None
    rss_mb: list[float]

    @property
    def requests(self) -> int:
        """Every request answered or failed, whatever its status."""
        return sum(len(v) for v in self.record.latencies.values())

    @property
    def wall(self) -> float:
        return self.record.ended - self.record.started

    def per_s(self, op: str | None = None) -> float:
        ops = [op] if op else list(self.record.latencies)
        done = sum(
            n
            for key, n in self.record.statuses.items()
            if key.split()[0] in ops and key.split()[1].startswith("2")
        )
        return done / self.wall if self.wall > 0 else 0.0

    def p(self, q: float, op: str | None = None) -> float:
        values = [
            seconds
            for name, all_seconds in self.record.latencies.items()
            if op is None or name == op
            for seconds in all_seconds
        ]
        return float(np.percentile(np.array(values) * 1e3, q)) if values else float("nan")


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_phase(
    config: Config,
    filled: Filled,
    servers: list[Server],
    target: Target,
    name: str,
    seed: int,
) -> Phase:
    stored = filled.count()
    log(
        f"  {name}: N = {stored:,}, {len(servers)} process(es) of "
        f"{threads_for(config, filled.backend)} "
        "request thread(s), "
        f"{config.seconds:g} s"
    )
    count = int(config.seconds * MAX_RATE)
    overlap = name == "overlap"  # everyone in one place at one time: the first week
    days = gen.DAYS if overlap else config.future_days
    bodies = Bodies(count, seed, config.parties, days=days, overlap=overlap)
    if name != "mechanisms":
        target = Target(target.urls, target.mechanism, target.parties)
    traffic = Traffic(target, bodies, mix=name == "mix", seed=seed)
    cpu0, own0 = cpu_of(servers), _client_cpu()
    pg0 = postgres_cpu() if filled.backend == "PostgreSQL" else None

    async def go() -> Record:
        try:
            return await traffic.closed_loop(config.concurrency, config.seconds)
        finally:
            await traffic.close()

    record = uvloop.run(go())
    phase = Phase(
        filled.backend,
        len(servers),
        threads_for(config, filled.backend),
        name,
        stored,
        record,
        cpu_of(servers) - cpu0,
        _client_cpu() - own0,
        postgres_cpu() - pg0 if pg0 is not None else None,
        [rss_mb(s) for s in servers],
    )
    if bodies.next >= count:
        log(f"  {name}: the {count:,} drawn notify bodies ran out before the end of the phase")
    log(f"  {name}: {phase.per_s():.0f} requests/s, p99 {phase.p(99):.1f} ms")
    return phase


def p99_ms(seconds: list[float]) -> float:
    """The 99th percentile of latencies in seconds, in ms (NaN for none)."""
    return float(np.percentile(np.array(seconds) * 1e3, 99)) if seconds else math.nan


def soak(
    config: Config, filled: Filled, server: Server, target: Target, rate: float
) -> list[SoakWindow]:
    """One SoakWindow per window of the soak."""
    count = int(config.soak * rate) + 1_000
    bodies = Bodies(count, config.seed + 99, config.parties, days=config.future_days, overlap=False)
    traffic = Traffic(target, bodies, mix=True, seed=config.seed + 99)
    samples: list[tuple[float, float, float]] = []

    async def sample() -> None:
        while True:
            await asyncio.sleep(SOAK_WINDOW_S)
            samples.append((time.perf_counter(), rss_mb(server), rss_mb(server, "RssAnon")))

    async def go() -> Record:
        sampler = asyncio.create_task(sample())
        try:
            return await traffic.open_loop(rate, config.soak, 4 * config.concurrency)
        finally:
            sampler.cancel()
            await traffic.close()

    log(f"soak: {config.soak:g} s of the mix at {rate:.0f} requests/s on {filled.backend}")
    record = uvloop.run(go())
    windows = []
    for at, rss, heap in samples:
        start_ = at - SOAK_WINDOW_S
        inside = [a for a in record.answers if start_ <= a.issued < at]
        if inside:
            notifies = [a for a in inside if a.op in ("notify", "revise")]
            windows.append(
                (
                    start_ - record.started,
                    len(inside) / SOAK_WINDOW_S,
                    p99_ms([a.seconds for a in inside]),
                    p99_ms([a.seconds for a in notifies if a.op == "notify"]),
                    sum(a.conflicts for a in notifies) / max(len(notifies), 1),
                    rss,
                    heap,
                )
            )
    return windows


# The report.


def print_phase(phase: Phase) -> None:
    record = phase.record
    requests = phase.requests
    pg = f", all postgres {phase.postgres_cpu:.1f} s" if phase.postgres_cpu is not None else ""
    print(
        f"\n**{phase.backend}, {phase.processes} process(es) of {phase.threads} request "
        f"thread(s), {phase.name}** — N = "
        f"{phase.stored:,} at the start; {requests:,} requests in {phase.wall:.1f} s; CPU: "
        f"servers {phase.server_cpu:.1f} s ({phase.server_cpu * 1e3 / max(requests, 1):.1f} ms "
        f"a request), client {phase.client_cpu:.1f} s{pg}; server RSS "
        + ", ".join(f"{m:.0f} MB" for m in phase.rss_mb)
    )
    print("\n| operation | answered 2xx/s | p50 ms | p99 ms | statuses |")
    print("| --- | ---: | ---: | ---: | --- |")
    for op in sorted(record.latencies):
        statuses = ", ".join(
            f"{key.split()[1]}: {n:,}"
            for key, n in sorted(record.statuses.items())
            if key.split()[0] == op
        )
        print(
            f"| {op} | {phase.per_s(op):.1f} | {phase.p(50, op):.1f} | {phase.p(99, op):.1f} "
            f"| {statuses} |"
        )
    print(f"| all | {phase.per_s():.1f} | {phase.p(50):.1f} | {phase.p(99):.1f} | |")
    notifies = len(record.latencies.get("notify", [])) + len(record.latencies.get("revise", []))
    if notifies:
        print(f"\nconflicts in the answers: {record.conflicts / notifies:.2f} a notify/revise")
    if record.fallbacks:
        print(f"picked with nothing to act on, notified instead: {record.fallbacks:,}")
    if record.transport_errors:
        print(f"transport errors: {dict(record.transport_errors)}")


def verdicts(phases: list[Phase], clients: int) -> list[str]:
    lines = []

    def find(backend: str, processes: int, name: str) -> Phase | None:
        for p in phases:
            if (p.backend, p.processes, p.name) == (backend, processes, name):
                return p
        return None

    def best(name: str, score: Callable[[Phase], float]) -> Phase | None:
        """SQLite's phase of this name at the process count that scored best."""
        runs = [p for p in phases if (p.backend, p.name) == ("SQLite", name)]
        return max(runs, key=score, default=None)

    if (p := best("notify", lambda p: p.per_s("notify"))) is not None:
        got = p.per_s("notify")
        ok = got >= TARGETS["notify_per_s"] and p.stored >= 1_000_000
        lines.append(
            f"SQLite notify at N = {p.stored:,}: {got:.0f}/s with {p.processes} process(es) "
            f"(target ≥ {TARGETS['notify_per_s']:.0f} at 10⁶): {'met' if ok else 'NOT met'}"
        )
    if (p := best("mix", lambda p: -p.p(99))) is not None:
        got = p.p(99)
        ok = got <= TARGETS["mix_p99_ms"]
        lines.append(
            f"SQLite mix p99 at {clients} clients: {got:.1f} ms with {p.processes} process(es) "
            f"(target ≤ {TARGETS['mix_p99_ms']:.0f}): {'met' if ok else 'NOT met'}"
        )
    if (p := best("overlap", lambda p: p.per_s("notify"))) is not None:
        got = p.per_s("notify")
        ok = got >= TARGETS["overlap_per_s"]
        lines.append(
            f"SQLite overlapping notify: {got:.0f}/s with {p.processes} process(es) (target ≥ "
            f"{TARGETS['overlap_per_s']:.0f}): {'met' if ok else 'NOT met'}"
        )
    one, two = find("PostgreSQL", 1, "mechanisms"), find("PostgreSQL", 2, "mechanisms")
    if one is not None and two is not None:
        ratio = two.per_s("notify") / one.per_s("notify")
        ok = ratio >= TARGETS["scale_2"]
        lines.append(
            f"PostgreSQL 2 processes / 1 on non-overlapping notify: {ratio:.2f}× (target ≥ "
            f"{TARGETS['scale_2']:g}×): {'met' if ok else 'NOT met'}; {cpu_ceiling(one)}"
        )
    return lines


def cpu_ceiling(one: Phase) -> str:
    """The most any number of API processes could serve on this machine's cores, as a multiple
    of one process's rate: the cores ÷ the CPU a request took in all (API, PostgreSQL and the
    client, which share the cores here), at one process's cost a request — which more
    processes only raise."""
    requests = one.requests
    cpu = one.server_cpu + one.client_cpu + (one.postgres_cpu or 0.0)
    if not requests or not cpu or not one.per_s():
        return "no CPU ceiling: nothing was served"
    cores = os.cpu_count() or 1
    ceiling = cores / (cpu / requests) / one.per_s()
    return (
        f"the ceiling of {cores} cores at one process's {1e3 * cpu / requests:.1f} ms of CPU a "
        f"request (API, PostgreSQL and client): {ceiling:.2f}×"
    )


def print_report(config: Config, phases: list[Phase], soaked: list[SoakWindow]) -> bool:
    print(f"\n# bench/load.py — src/ at {source_revision()}")
    print(
        f"{os.cpu_count()} CPUs; {config.parties} parties, {config.concurrency} clients, "
        f"{config.seconds:g} s a phase, seed {config.seed}; load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(
        "\n| backend | processes | threads a process | phase | N | requests/s | notifies/s "
        "| p50 ms | p99 ms |"
    )
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for p in phases:
        print(
            f"| {p.backend} | {p.processes} | {p.threads} | {p.name} | {p.stored:,} "
            f"| {p.per_s():.1f} "
            f"| {p.per_s('notify'):.1f} | {p.p(50):.1f} | {p.p(99):.1f} |"
        )
    for p in phases:
        print_phase(p)
    if soaked:
        print("\n**Soak** (the mix at a fixed rate)\n")
        print(
            "| from s | requests/s | p99 ms | notify p99 ms | conflicts a notify/revise "
            "| server RSS MB | of which heap (RssAnon) MB |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for at, rate, p99, notify_p99, conflicts, rss, heap in soaked:
            print(
                f"| {at:.0f} | {rate:.1f} | {p99:.1f} | {notify_p99:.1f} | {conflicts:.2f} "
                f"| {rss:.0f} | {heap:.0f} |"
            )
    print()
    for line in verdicts(phases, config.concurrency):
        print(f"- {line}")
    server_errors = [
        key for p in phases for key in p.record.statuses if key.split()[1].startswith("5")
    ]
    if server_errors:
        print(f"\nSERVER ERRORS: {sorted(set(server_errors))}")
    return not server_errors


def run_backend(config: Config, filled: Filled, origin: float, work: Path) -> list[Phase]:
    phases = []
    counts = config.processes if filled.backend == "PostgreSQL" else config.sqlite_processes
    parties = [gen.party_id(p) for p in range(config.parties)]
    for count in counts:
        with fresh_copy(filled, f"processes{count}") as copy:
            servers = start_servers(copy, count, threads_for(config, filled.backend), origin, work)
            try:
                urls = [s.url for s in servers]
                mine = own_mechanisms(urls[0], parties, config.concurrency)
                target = Target(urls, gen.MECHANISM, parties, mine)
                for i, name in enumerate(config.phases):
                    seed = config.seed * 1_000 + 10 * count + i
                    phases.append(run_phase(config, copy, servers, target, name, seed))
            finally:
                for server in servers:
                    server.stop()
    return phases


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == SERVE_FLAG:
        worker_serve(json.loads(sys.argv[2]))
        return
    config = parse_args(argv)
    work = config.keep or Path(tempfile.mkdtemp(prefix="deconfliction-load-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"measuring src/ at {source_revision()}; stores and server logs in {work}")
    origin = time.time()
    phases: list[Phase] = []
    soaked: list[SoakWindow] = []
    for db in config.dbs:
        filled = sqlite_store(config, work) if db == "sqlite" else postgres_store(config, db, work)
        if config.fill_only:
            continue
        phases += run_backend(config, filled, origin, work)
        if config.soak > 0 and not soaked:
            mix = [p for p in phases if p.name == "mix" and p.backend == filled.backend]
            if not mix:
                raise SystemExit("--soak needs the mix phase (its rate sets the soak's)")
            with fresh_copy(filled, "soak") as copy:
                servers = start_servers(copy, 1, threads_for(config, filled.backend), origin, work)
                try:
                    parties = [gen.party_id(p) for p in range(config.parties)]
                    target = Target([servers[0].url], gen.MECHANISM, parties)
                    rate = SOAK_SHARE * mix[0].per_s()
                    soaked = soak(config, copy, servers[0], target, rate)
                finally:
                    servers[0].stop()
    if config.fill_only:
        log(f"filled; run again with --keep {work} to measure")
        return
    ok = print_report(config, phases, soaked)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
