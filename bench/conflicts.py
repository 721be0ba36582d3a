"""Benchmark: checking one new notification for conflicts against N stored volumes.

For each N (default 10⁴, 10⁵, 10⁶) it builds a fresh store holding N single-volume notifications
— SQLite (the default), PostgreSQL (`--db postgresql://…`) or both side by side (`--db sqlite
--db postgresql://…`) — and measures:

- the index build time: on SQLite, inserting all N notifications and their volumes, 10,000 per
  write transaction, exactly as the service does (`insert_notification` + `replace_volumes`); on
  PostgreSQL, the first 10,000 that way and the rest by COPY with the GiST index live (checked to
  write the store's rows: bench/conflicts_pg.py), then ANALYZE;
- the latency of checking one new notification through the store — the path of
  `services.conflicts.recompute`: `box_of` → `Box.widened` → `tx.candidates` (the R*Tree or the GiST
  query) → `find_conflicts`, inside `store.read()`;
- the same check by brute force: every stored volume kept in memory, a numpy party/time/altitude
  filter over all N, then the exact `find_conflicts` on the survivors. Each brute-force answer is
  cross-checked against every store's: the sets of conflicting notifications must be equal, or
  the run stops with an error.

The data are seeded: circles and star-shaped polygons 1–20 km across, centred uniformly in a
600 km × 600 km square around lon 38, lat 36, over 7 days, with windows of 10 min – 6 h, altitude
bands within 0–12,000 m AMSL and 20 parties. The volumes are built directly from the domain's own
constructors, in one worker process per CPU (`parse_volume` costs ~0.4 ms a volume: ~7 minutes
for a million); a sample is parsed with `parse_volume` as well and must come out identical. The
dataset for the largest N is generated once; each smaller N uses its first N volumes, in a store
of its own.

Run from the project root: `.venv/bin/python bench/conflicts.py` (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import shapely
from revision import source_revision

from deconfliction.domain import geo
from deconfliction.domain.altitude import GEOID_MARGIN_M, AltitudeBand
from deconfliction.domain.areas import DENSIFY_DEG, Area, Shape
from deconfliction.domain.candidates import Candidates
from deconfliction.domain.conflicts import Finding, Placed, find_conflicts
from deconfliction.domain.rules import Rules
from deconfliction.domain.times import TimeWindow, format_instant
from deconfliction.domain.volumes import Box, Volume, box_of, parse_volume
from deconfliction.services.stored_json import dumps
from deconfliction.storage.sqlite.store import SqliteStore

if TYPE_CHECKING:  # imported when a PostgreSQL URL is given: the SQLite side runs without them
    import conflicts_pg

    from deconfliction.storage.postgres.store import PostgresStore

CENTRE_LON = 38.0
CENTRE_LAT = 36.0
SIDE_M = 600_000.0
DAYS = 7
T0 = datetime(2026, 6, 1, tzinfo=UTC)
NOW = T0 - timedelta(days=1)
NOW_TEXT = format_instant(NOW)
SIZE_M = (1_000.0, 20_000.0)
DURATION_MIN = (10, 360)
CEILING_M = 12_000.0
POLYGON_VERTICES = (5, 12)
METRES_PER_DEG = math.pi * 6_371_008.8 / 180.0  # on the mean sphere: for placing data only
MECHANISM = "mec-bench"
BATCH = 10_000
CHUNK = 10_000
BRUTE_REFERENCE_N = 10_000
WARMUP = 20


# Command line.


@dataclass(frozen=True)
class Config:
    sizes: list[int]
    queries: int
    brute_queries: Callable[[int], int]
    seed: int
    databases: list[str]
    db_dir: Path | None
    parties: int
    verify: int
    rules: Rules


def _int_list(text: str) -> list[int]:
    try:
        values = [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("needs positive integers")
    return values


def _brute_counts(values: list[int], sizes: list[int]) -> Callable[[int], int]:
    """One count per size, or one count at N = 10⁴ scaled by √(10⁴ / N) (at least 10)."""
    if len(values) == len(sizes):
        table = dict(zip(sizes, values, strict=True))
        return lambda n: table[n]
    if len(values) != 1:
        raise SystemExit("--brute-queries: give one number, or one per size")
    base = values[0]
    return lambda n: max(min(10, base), round(base * math.sqrt(BRUTE_REFERENCE_N / n)))


def _database(text: str) -> str:
    if text == "sqlite" or text.startswith(("postgresql://", "postgres://")):
        return text
    raise argparse.ArgumentTypeError(f"neither sqlite nor a postgresql:// URL: {text}")


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=_int_list,
        default=[10_000, 100_000, 1_000_000],
        help="stored volume counts N (default 10000,100000,1000000)",
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=1000,
        help="new notifications checked through the store per N (default 1000)",
    )
    parser.add_argument(
        "--brute-queries",
        type=_int_list,
        default=[200],
        help="brute-force checks: one number for N = 10⁴, scaled by √(10⁴/N) "
        "(default 200 → 63 at 10⁵, 20 at 10⁶), or one number per size",
    )
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument(
        "--db",
        action="append",
        type=_database,
        help="sqlite (the default) or a PostgreSQL URL, whose server gets a database "
        "<its database>_<N> per N (created, then dropped); give --db twice for both, side by side",
    )
    parser.add_argument(
        "--db-dir",
        type=Path,
        default=None,
        help="keep the SQLite files here (default: a temporary directory, removed)",
    )
    parser.add_argument("--parties", type=int, default=20)
    parser.add_argument(
        "--verify",
        type=int,
        default=1000,
        help="generated volumes also parsed with parse_volume and compared",
    )
    parser.add_argument(
        "--separation", type=float, default=1_000.0, help="horizontal separation, m (default 1000)"
    )
    parser.add_argument(
        "--vertical", type=float, default=300.0, help="vertical separation, m (default 300)"
    )
    parser.add_argument(
        "--buffer", type=float, default=10.0, help="time buffer, minutes (default 10)"
    )
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sizes))
    return Config(
        sizes=sizes,
        queries=args.queries,
        brute_queries=_brute_counts(args.brute_queries, sizes),
        seed=args.seed,
        databases=list(dict.fromkeys(args.db or ["sqlite"])),
        db_dir=args.db_dir,
        parties=args.parties,
        verify=args.verify,
        rules=Rules(
            horizontal_separation_m=args.separation,
            vertical_separation_m=args.vertical,
            time_buffer_min=args.buffer,
        ),
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Data generation.


@dataclass(frozen=True)
class Draws:
    """The random numbers behind n volumes, drawn in bulk."""

    circle: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    half_size: np.ndarray
    vertices: np.ndarray
    jitter: np.ndarray
    reach: np.ndarray
    start_min: np.ndarray
    duration_min: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    party: np.ndarray


def draw(
    rng: np.random.Generator, n: int, parties: int, history_days: int = 0, days: int = DAYS
) -> Draws:
    """n volumes' random numbers; they start in the `days` (DAYS) from T0 or, with
    `history_days`, in those days before T0 and the `days` after it (the same draws otherwise)."""
    lat = CENTRE_LAT + rng.uniform(-0.5, 0.5, n) * SIDE_M / METRES_PER_DEG
    east = rng.uniform(-0.5, 0.5, n) * SIDE_M
    lon = CENTRE_LON + east / (METRES_PER_DEG * np.cos(np.radians(lat)))
    duration = rng.integers(DURATION_MIN[0], DURATION_MIN[1] + 1, n)
    span = (history_days + days) * 1440 - duration
    start = (rng.random(n) * span).astype(np.int64) - history_days * 1440
    bands = np.sort(np.round(rng.uniform(0.0, CEILING_M, (n, 2)) / 10.0) * 10.0, axis=1)
    bands[:, 1] = np.where(bands[:, 1] > bands[:, 0], bands[:, 1], bands[:, 0] + 10.0)
    return Draws(
        circle=rng.random(n) < 0.5,
        lon=np.round(lon, 6),
        lat=np.round(lat, 6),
        half_size=rng.uniform(*SIZE_M, n) / 2.0,
        vertices=rng.integers(POLYGON_VERTICES[0], POLYGON_VERTICES[1] + 1, n),
        jitter=rng.uniform(-0.4, 0.4, (n, POLYGON_VERTICES[1])),
        reach=rng.uniform(0.6, 1.0, (n, POLYGON_VERTICES[1])),
        start_min=start,
        duration_min=duration,
        lower=bands[:, 0],
        upper=bands[:, 1],
        party=rng.integers(0, parties, n),
    )


def _ring(d: Draws, i: int) -> np.ndarray:
    """A star-shaped (hence simple) polygon ring: vertices at increasing angles round the centre."""
    k = int(d.vertices[i])
    angles = (np.arange(k) + d.jitter[i, :k]) * (2.0 * np.pi / k)
    metres = d.half_size[i] * d.reach[i, :k]
    lat = d.lat[i] + metres * np.sin(angles) / METRES_PER_DEG
    lon = d.lon[i] + metres * np.cos(angles) / (METRES_PER_DEG * math.cos(math.radians(d.lat[i])))
    ring = np.round(np.column_stack((lon, lat)), 6)
    return np.vstack((ring, ring[:1]))


def _area(d: Draws, i: int) -> Area:
    """The Area `parse_area` would build, from the domain's own pieces, without re-validating."""
    if d.circle[i]:
        lon, lat, radius = float(d.lon[i]), float(d.lat[i]), float(round(d.half_size[i], 1))
        core: Any = shapely.Point(lon, lat)
        centre = geo.centre_of(shapely.get_coordinates(core))
        geojson = {"type": "Circle", "center": [lon, lat], "radius": radius}
        return Area(geojson, Shape(core, radius, centre), math.pi * radius**2)
    ring = _ring(d, i)
    core = shapely.segmentize(shapely.polygons(ring), DENSIFY_DEG)
    centre = geo.centre_of(shapely.get_coordinates(core))
    area_m2 = float(geo.project(core, geo.projection_near(*centre)).area)
    geojson = {"type": "Polygon", "coordinates": [ring.tolist()]}
    return Area(geojson, Shape(core, 0.0, centre), area_m2)


def _altitude(d: Draws, i: int) -> AltitudeBand:
    lower, upper = float(d.lower[i]), float(d.upper[i])
    given = {"lower": lower, "upper": upper, "units": "m", "reference": "AMSL"}
    return AltitudeBand(lower, upper, "AMSL", given)


def _window(d: Draws, i: int) -> TimeWindow:
    start = T0 + timedelta(minutes=int(d.start_min[i]))
    return TimeWindow(start, start + timedelta(minutes=int(d.duration_min[i])))


def make_volume(d: Draws, i: int) -> Volume:
    return Volume(area=_area(d, i), altitude=_altitude(d, i), window=_window(d, i))


def party_id(index: int) -> str:
    return f"pty-{index:02d}"


@dataclass
class Dataset:
    """N stored notifications of one volume each: as rows for the store, and in memory."""

    rows: list[dict[str, Any]]
    placed: list[Placed]
    boxes: list[Box]
    start: np.ndarray
    end: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    party: np.ndarray


def notification_row(nid: str, party: str, volumes_json: str, window: TimeWindow) -> dict[str, Any]:
    """The notifications row the service writes for a one-volume notification."""
    return {
        "id": nid,
        "mechanism_id": MECHANISM,
        "party_id": party,
        "kind": "air",
        "title": nid,
        "reference": "",
        "version": 1,
        "volumes_json": volumes_json,
        "start_ts": window.start.timestamp(),
        "end_ts": window.end.timestamp(),
        "late": 0,
        "created_at": NOW_TEXT,
        "updated_at": NOW_TEXT,
    }


def placed_of(nid: str, party: str, volume: Volume) -> Placed:
    return Placed(nid, party, 0, volume.area.shape, volume.altitude, volume.window)


Corner = tuple[float, float, float, float, float]


@dataclass
class Chunk:
    """What a worker computes for a run of volumes, in a compact form that is cheap to send."""

    volumes_json: list[str]
    wkb: list[bytes]
    centre: list[tuple[float, float]]
    radius: list[float]
    low: list[Corner]
    high: list[Corner]


def build_chunk(task: tuple[Draws, int, int, Rules]) -> Chunk:
    """Volumes, JSON and boxes for one slice of the draws (run in a worker process)."""
    d, first, verify, rules = task
    chunk = Chunk([], [], [], [], [], [])
    for i in range(len(d.lon)):
        volume = make_volume(d, i)
        if first + i < verify:
            check_same_as_parsed(volume, rules)
        box = box_of(volume)
        chunk.volumes_json.append(dumps([volume.to_json()]))
        chunk.wkb.append(shapely.to_wkb(volume.area.shape.core))
        chunk.centre.append(volume.area.shape.centre)
        chunk.radius.append(volume.area.shape.radius_m)
        chunk.low.append(box.low)
        chunk.high.append(box.high)
    return chunk


def _slices(d: Draws, size: int) -> Iterator[tuple[int, Draws]]:
    n = len(d.lon)
    for first in range(0, n, size):
        last = min(first + size, n)
        yield first, Draws(*(getattr(d, f.name)[first:last] for f in fields(Draws)))


def generate(
    n: int,
    seed: int,
    parties: int,
    verify: int,
    rules: Rules,
    history_days: int = 0,
    days: int = DAYS,
) -> Dataset:
    """n volumes built in worker processes (one per CPU), assembled here in order."""
    d = draw(np.random.default_rng(seed), n, parties, history_days, days)
    data = Dataset([], [], [], np.empty(0), np.empty(0), d.lower, d.upper, d.party)
    started = time.perf_counter()
    tasks = ((part, first, verify, rules) for first, part in _slices(d, CHUNK))
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        for chunk in pool.imap(build_chunk, tasks):
            _append(data, d, chunk)
            if len(data.rows) % 100_000 == 0 or len(data.rows) == n:
                log(f"  generated {len(data.rows):,} ({time.perf_counter() - started:.0f} s)")
    for i in range(min(verify, n)):
        if data.placed[i] != placed_of(
            data.rows[i]["id"], data.rows[i]["party_id"], make_volume(d, i)
        ):
            raise RuntimeError(f"volume {i} was not rebuilt faithfully from its worker's WKB")
    data.start = T0.timestamp() + d.start_min * 60.0
    data.end = data.start + d.duration_min * 60.0
    return data


def _append(data: Dataset, d: Draws, chunk: Chunk) -> None:
    cores = shapely.from_wkb(chunk.wkb)
    for j, core in enumerate(cores):
        i = len(data.rows)
        nid, party = f"ntf-{i:07d}", party_id(int(d.party[i]))
        window = _window(d, i)
        shape = Shape(core, chunk.radius[j], chunk.centre[j])
        data.rows.append(notification_row(nid, party, chunk.volumes_json[j], window))
        data.placed.append(Placed(nid, party, 0, shape, _altitude(d, i), window))
        data.boxes.append(Box(chunk.low[j], chunk.high[j]))


def check_same_as_parsed(volume: Volume, rules: Rules) -> None:
    """The directly built volume must equal what the service makes of its JSON (when it was
    notified: a day before it starts, for one that starts before NOW)."""
    notified = min(NOW, volume.window.start - timedelta(days=1))
    parsed = parse_volume(volume.to_json(), "volume", rules=rules, now=notified)
    if parsed != volume or box_of(parsed) != box_of(volume):
        raise RuntimeError(f"generated volume differs from parse_volume's: {volume.to_json()}")


@dataclass(frozen=True)
class Query:
    """A new notification to check: its id, party, parsed volume and placed volume."""

    nid: str
    party: str
    party_index: int
    volume: Volume
    placed: Placed


def make_queries(count: int, seed: int, parties: int, rules: Rules, tag: str) -> list[Query]:
    """New notifications from the same distribution, parsed from JSON as the service does."""
    d = draw(np.random.default_rng(seed), count, parties)
    queries = []
    for i in range(count):
        volume = parse_volume(make_volume(d, i).to_json(), "volume", rules=rules, now=NOW)
        nid, party = f"ntf-{tag}{i:05d}", party_id(int(d.party[i]))
        queries.append(Query(nid, party, int(d.party[i]), volume, placed_of(nid, party, volume)))
    return queries


# The stores.

Store: TypeAlias = "SqliteStore | PostgresStore"


def set_up(store: Store, parties: int, rules: Rules) -> Store:
    """The benchmark's mechanism and parties (all members) in a new store."""
    moment = NOW_TEXT
    with store.write() as tx:
        tx.insert_mechanism(
            {
                "id": MECHANISM,
                "name": "bench",
                "area_json": None,
                "rules_json": dumps(rules.to_json()),
                "created_at": moment,
            }
        )
        for p in range(parties):
            tx.insert_party(
                {
                    "id": party_id(p),
                    "name": party_id(p),
                    "code": f"P{p:02d}",
                    "contact": "",
                    "created_at": moment,
                }
            )
            tx.add_member(MECHANISM, party_id(p), moment)
    return store


def write_through_store(store: Store, data: Dataset, n: int) -> float:
    """Insert the first n notifications, BATCH per write transaction; the seconds it took."""
    started = time.perf_counter()
    for first in range(0, n, BATCH):
        with store.write() as tx:
            for i in range(first, min(first + BATCH, n)):
                tx.insert_notification(data.rows[i])
                tx.replace_volumes(data.rows[i], [(data.placed[i], data.boxes[i])])
        done = min(first + BATCH, n)
        if done % 100_000 == 0 and done < n:
            log(f"  inserted {done:,} ({time.perf_counter() - started:.0f} s)")
    return time.perf_counter() - started


@dataclass(frozen=True)
class Fill:
    """How a store was filled: `written` notifications through its writes, then `copied`."""

    written: int
    written_s: float
    copied: int = 0
    copied_s: float = 0.0
    analyze_s: float = 0.0

    @property
    def seconds(self) -> float:
        return self.written_s + self.copied_s + self.analyze_s


@dataclass(frozen=True)
class Stored:
    """What is measured of a filled store once the checks are done."""

    size_mb: float
    index_mb: float | None = None
    plan: str | None = None
    profile: dict[str, np.ndarray] | None = None


Probe: TypeAlias = tuple[str, Box]  # a party and a widened box: a candidate query


class SqliteBackend:
    name = "SQLite"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory
        self.version = f"SQLite {sqlite3.sqlite_version}"

    def open(self, n: int, config: Config) -> Store:
        self.path = self.directory / f"bench-{n}.sqlite"
        if self.path.exists():
            raise SystemExit(f"{self.path} exists already; remove it or choose another --db-dir")
        log(f"N = {n:,}: building the SQLite store at {self.path}")
        return set_up(SqliteStore(self.path), config.parties, config.rules)

    def fill(self, store: Store, data: Dataset, n: int) -> Fill:
        return Fill(n, write_through_store(store, data, n))

    def stored(self, store: Store, probes: list[Probe] | None) -> Stored:
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return Stored(sum(f.stat().st_size for f in files if f.exists()) / 1e6)

    def close(self, store: Store) -> None:
        store.close()  # the file goes with the directory


class PostgresBackend:
    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self.url = url
        self.scratch: conflicts_pg.Scratch | None = None
        self.version = "PostgreSQL"

    def open(self, n: int, config: Config) -> Store:
        import conflicts_pg

        from deconfliction.storage.postgres.store import PostgresStore

        self.scratch = conflicts_pg.Scratch.create(self.url, n)
        log(f"N = {n:,}: building the PostgreSQL store in database {self.scratch.name}")
        store = set_up(PostgresStore(self.scratch.url), config.parties, config.rules)
        self.version = conflicts_pg.server_version(self.scratch.url)
        return store

    def fill(self, store: Store, data: Dataset, n: int) -> Fill:
        import conflicts_pg

        assert self.scratch is not None
        url, written = self.scratch.url, min(n, BATCH)
        written_s = write_through_store(store, data, written)
        conflicts_pg.check_copy_matches_store(
            url, data.rows[:written], data.placed[:written], data.boxes[:written]
        )
        started = time.perf_counter()
        for done in conflicts_pg.bulk_fill(
            url, data.rows[written:n], data.placed[written:n], data.boxes[written:n]
        ):
            log(f"  copied {done:,} ({time.perf_counter() - started:.0f} s)")
        copied_s = time.perf_counter() - started
        started = time.perf_counter()
        conflicts_pg.analyze(url)
        return Fill(written, written_s, n - written, copied_s, time.perf_counter() - started)

    def stored(self, store: Store, probes: list[Probe] | None) -> Stored:
        """Sizes; with probes (at the largest N), the first one's plan and the query's profile."""
        import conflicts_pg

        assert self.scratch is not None
        url = self.scratch.url
        sizes = conflicts_pg.sizes(url)
        if not probes:
            return Stored(sizes.database_mb, sizes.index_mb)
        plan = conflicts_pg.explain(url, MECHANISM, *probes[0])
        return Stored(
            sizes.database_mb, sizes.index_mb, plan, conflicts_pg.profile(url, MECHANISM, probes)
        )

    def close(self, store: Store) -> None:
        assert self.scratch is not None
        store.close()
        self.scratch.drop()


Backend: TypeAlias = SqliteBackend | PostgresBackend


@dataclass(frozen=True)
class Check:
    seconds: float
    candidates: int
    conflicts: frozenset[str]
    split: tuple[float, ...]


def conflicting(findings: list[Finding], nid: str) -> frozenset[str]:
    return frozenset(
        f.notification_b if f.notification_a == nid else f.notification_a for f in findings
    )


def check_store(store: SqliteStore, query: Query, rules: Rules) -> Check:
    """The service's path (services.conflicts.recompute) for a one-volume notification."""
    t0 = time.perf_counter()
    with store.read() as tx:
        t1 = time.perf_counter()
        placed = [(query.placed, box_of(query.volume))]
        t2 = time.perf_counter()
        candidates = Candidates.union(
            [tx.candidates(MECHANISM, query.party, box.widened(rules)) for _, box in placed]
        )
        t3 = time.perf_counter()
        findings = find_conflicts([v for v, _ in placed], candidates, rules)
        t4 = time.perf_counter()
    t5 = time.perf_counter()
    return Check(
        t5 - t0,
        len(candidates),
        conflicting(findings, query.nid),
        (t1 - t0 + t5 - t4, t2 - t1, t3 - t2, t4 - t3),
    )


def check_brute(data: Dataset, n: int, query: Query, rules: Rules) -> Check:
    """Scan all n volumes: party, time, altitude in numpy (a loose superset), then exactly."""
    window, band = query.volume.window, query.volume.altitude
    buffer = rules.time_buffer_min * 60.0
    vertical = rules.vertical_separation_m + GEOID_MARGIN_M
    t0 = time.perf_counter()
    keep = (
        (data.start[:n] <= window.end.timestamp() + buffer)
        & (data.end[:n] >= window.start.timestamp() - buffer)
        & (data.lower[:n] <= band.upper_m + vertical)
        & (data.upper[:n] >= band.lower_m - vertical)
        & (data.party[:n] != query.party_index)
    )
    survivors = [data.placed[i] for i in np.flatnonzero(keep)]
    t1 = time.perf_counter()
    findings = find_conflicts([query.placed], survivors, rules)
    t2 = time.perf_counter()
    return Check(t2 - t0, len(survivors), conflicting(findings, query.nid), (t1 - t0, t2 - t1))


# One size, and the report.


@dataclass(frozen=True)
class Result:
    n: int
    backend: str
    fill: Fill
    store_ms: np.ndarray
    candidates_ms: np.ndarray
    brute_ms: np.ndarray
    candidates: float
    conflicts: float
    survivors: float
    split_ms: tuple[float, ...]
    checked: int
    stored: Stored


def _progress(label: str, items: list[Query]) -> Iterator[Query]:
    step = max(1, len(items) // 4)
    for i, item in enumerate(items):
        if i and i % step == 0:
            log(f"  {label}: {i}/{len(items)}")
        yield item


@dataclass(frozen=True)
class Brute:
    queries: list[Query]
    checks: list[Check]


def measure(
    backend: Backend,
    n: int,
    data: Dataset,
    queries: list[Query],
    warmup: list[Query],
    config: Config,
    brute: Brute,
) -> Result:
    store = backend.open(n, config)
    try:  # the store is closed (a PostgreSQL database dropped) whatever happens
        fill = backend.fill(store, data, n)
        log(
            f"  built in {fill.seconds:.1f} s ({n / fill.seconds:,.0f} volumes/s); "
            f"checking {len(queries)}"
        )
        for query in warmup:
            check_store(store, query, config.rules)
        store_checks = [check_store(store, q, config.rules) for q in _progress("store", queries)]
        for query, by_store, by_brute in zip(
            brute.queries, store_checks, brute.checks, strict=False
        ):
            if by_store.conflicts != by_brute.conflicts:
                raise RuntimeError(
                    f"N={n}, {query.nid}: {backend.name} finds {sorted(by_store.conflicts)}, brute "
                    f"force finds {sorted(by_brute.conflicts)}"
                )
        probes = [(q.party, box_of(q.volume).widened(config.rules)) for q in queries]
        stored = backend.stored(store, probes if n == max(config.sizes) else None)
    finally:
        backend.close(store)
    splits = np.array([c.split for c in store_checks]) * 1e3
    return Result(
        n=n,
        backend=backend.name,
        fill=fill,
        store_ms=np.array([c.seconds for c in store_checks]) * 1e3,
        candidates_ms=splits[:, 2],
        brute_ms=np.array([c.seconds for c in brute.checks]) * 1e3,
        candidates=float(np.mean([c.candidates for c in store_checks])),
        conflicts=float(np.mean([len(c.conflicts) for c in store_checks])),
        survivors=float(np.mean([c.candidates for c in brute.checks])),
        split_ms=tuple(float(x) for x in splits.mean(axis=0)),
        checked=len(brute.queries),
        stored=stored,
    )


def run_size(
    n: int,
    data: Dataset,
    queries: list[Query],
    warmup: list[Query],
    config: Config,
    backends: list[Backend],
) -> list[Result]:
    chosen = queries[: min(config.brute_queries(n), len(queries))]
    log(f"N = {n:,}: brute force, {len(chosen)} checks")
    brute = Brute(
        chosen, [check_brute(data, n, q, config.rules) for q in _progress("brute", chosen)]
    )
    return [measure(b, n, data, queries, warmup, config, brute) for b in backends]


def _p(values: np.ndarray, q: int, digits: int = 2) -> str:
    return f"{np.percentile(values, q):.{digits}f}"


def report(results: list[Result], config: Config) -> None:
    rules = config.rules
    print(
        f"\nrules: {rules.horizontal_separation_m:g} m horizontal, "
        f"{rules.vertical_separation_m:g} m vertical, {rules.time_buffer_min:g} min buffer; "
        f"{config.parties} parties; seed {config.seed}; {config.queries} store checks per N"
    )
    print(
        "\n| N | store | build s | volumes/s | check p50 ms | check p99 ms "
        "| tx.candidates p50 ms | tx.candidates p99 ms | brute p50 ms | brute p99 ms "
        "| mean candidates | mean conflicts | DB MB |"
    )
    print("| ---: | --- |" + " ---: |" * 11)
    for r in results:
        print(
            f"| {r.n:,} | {r.backend} | {r.fill.seconds:.1f} | {r.n / r.fill.seconds:,.0f} "
            f"| {_p(r.store_ms, 50)} | {_p(r.store_ms, 99)} "
            f"| {_p(r.candidates_ms, 50)} | {_p(r.candidates_ms, 99)} "
            f"| {_p(r.brute_ms, 50, 1)} | {_p(r.brute_ms, 99, 1)} "
            f"| {r.candidates:.1f} | {r.conflicts:.1f} | {r.stored.size_mb:,.0f} |"
        )
    print("\nwhere a store check's time goes (mean ms), and the brute-force cross-check:")
    print(
        "\n| N | store | read tx begin+end | box_of | tx.candidates | find_conflicts | check mean "
        "| check max | brute checks cross-checked | brute survivors |"
    )
    print("| ---: | --- |" + " ---: |" * 8)
    for r in results:
        split = " | ".join(f"{x:.3f}" for x in r.split_ms)
        print(
            f"| {r.n:,} | {r.backend} | {split} | {r.store_ms.mean():.2f} "
            f"| {r.store_ms.max():.2f} | {r.checked}, all equal | {r.survivors:,.0f} |"
        )
    filled = [r for r in results if r.fill.copied or r.stored.index_mb is not None]
    if filled:
        print("\nPostgreSQL fill: the first notifications through the store's writes, the rest by")
        print("COPY (GiST index live), then ANALYZE:")
        print(
            "\n| N | through the store | s | notifications/s | by COPY | s | notifications/s "
            "| ANALYZE s | GiST index MB |"
        )
        print("| ---: |" + " ---: |" * 8)
        for r in filled:
            f = r.fill
            copied = f"{f.copied / f.copied_s:,.0f}" if f.copied else "—"
            print(
                f"| {r.n:,} | {f.written:,} | {f.written_s:.1f} | {f.written / f.written_s:,.0f} "
                f"| {f.copied:,} | {f.copied_s:.1f} | {copied} | {f.analyze_s:.1f} "
                f"| {r.stored.index_mb:,.0f} |"
            )
    for r in results:
        if r.stored.profile:
            print(f"\n{r.backend}, N = {r.n:,}: where the candidate query's time goes (ms)\n")
            print("| step | p50 | p99 |\n| --- | ---: | ---: |")
            steps = {
                **r.stored.profile,
                "tx.candidates (+ columns and WKB decoded)": r.candidates_ms,
            }
            for label, spent in steps.items():
                print(f"| {label} | {_p(spent, 50)} | {_p(spent, 99)} |")
        if r.stored.plan:
            print(
                f"\nEXPLAIN (ANALYZE, BUFFERS) of the candidate query of the first measured check, "
                f"{r.backend}, N = {r.n:,}:\n\n```\n{r.stored.plan}\n```"
            )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    started = time.perf_counter()
    revision = source_revision()
    log(f"measuring src/ at {revision}")
    log(f"generating {max(config.sizes):,} volumes (seed {config.seed})")
    data = generate(max(config.sizes), config.seed, config.parties, config.verify, config.rules)
    queries = make_queries(config.queries, config.seed + 1, config.parties, config.rules, "q")
    warmup = make_queries(WARMUP, config.seed + 2, config.parties, config.rules, "w")
    log(
        f"  done in {time.perf_counter() - started:.0f} s; "
        f"{min(config.verify, max(config.sizes)):,} verified against parse_volume"
    )
    gc.collect()
    gc.freeze()  # the in-memory copy is for brute force only: keep it out of the collector's way
    directory = config.db_dir or Path(tempfile.mkdtemp(prefix="deconfliction-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    backends: list[Backend] = [
        SqliteBackend(directory) if db == "sqlite" else PostgresBackend(db)
        for db in config.databases
    ]
    try:
        results = [
            r for n in config.sizes for r in run_size(n, data, queries, warmup, config, backends)
        ]
    finally:
        if config.db_dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    report(results, config)
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s on {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, {', '.join(b.version for b in backends)}, "
        f"Shapely {shapely.__version__}, src/ at {revision}"
    )


if __name__ == "__main__":
    main()
