"""The PostgreSQL side of bench/conflicts.py: a scratch database per N, a bulk fill by COPY that
writes exactly the rows the store's own writes make, and the candidate query's plan and timings.

A store's first rows are written through `insert_notification` + `replace_volumes`; the same
rows are then copied into temporary tables and compared column by column with what the store
wrote, so the COPY path is known to make the store's rows (boxes, ranges and WKB alike) before it
fills the rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deconfliction.domain.candidates import COLUMNS, columns_of
from deconfliction.domain.placed import Placed
from deconfliction.domain.volumes import Box
from deconfliction.storage.postgres.connection import translate
from deconfliction.storage.postgres.store import CANDIDATES, box_values

NOTIFICATION_COLUMNS = (
    "id",
    "mechanism_id",
    "party_id",
    "kind",
    "title",
    "reference",
    "version",
    "volumes_json",
    "start_ts",
    "end_ts",
    "late",
    "created_at",
    "updated_at",
)
VOLUME_COLUMNS = ("mechanism_id", *COLUMNS, "core_wkb", "area", "altitude", "span")
COPY_CHUNK = 100_000
PROFILE_WARMUP = 20  # a new connection plans and caches before its queries are timed


@dataclass(frozen=True)
class Scratch:
    """A database of its own for one N, on the server the benchmark's URL names."""

    admin_url: str
    name: str

    @property
    def url(self) -> str:
        return make_conninfo(self.admin_url, dbname=self.name)

    @classmethod
    def create(cls, admin_url: str, n: int) -> Scratch:
        """`<database of the URL>_<n>`, with the C collation the store's docs ask for."""
        scratch = cls(admin_url, f"{conninfo_to_dict(admin_url).get('dbname', 'bench')}_{n}")
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE 'C.UTF-8'").format(
                    sql.Identifier(scratch.name)
                )
            )
        return scratch

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(self.name)))


def _range(low: float, high: float) -> str:
    return f"[{low!r},{high!r}]"  # repr: the shortest text that reads back as the same double


def volume_rows(
    rows: Sequence[dict[str, Any]], placed: Sequence[Placed], boxes: Sequence[Box]
) -> Iterator[tuple[Any, ...]]:
    """The `volumes` rows `replace_volumes` writes, with the box as hex EWKB (a 3-D line)."""
    corners = np.array([(b.low[:3], b.high[:3]) for b in boxes], dtype=float).reshape(-1, 2, 3)
    areas = shapely.to_wkb(shapely.linestrings(corners), hex=True, output_dimension=3)
    for row, volume, box, area in zip(rows, placed, boxes, areas, strict=True):
        yield (
            row["mechanism_id"],
            *columns_of(volume),
            shapely.to_wkb(volume.shape.core),
            area,
            _range(box.low[3], box.high[3]),
            _range(box.low[4], box.high[4]),
        )


def _copy(cursor: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Any) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_in(
    connection: psycopg.Connection[Any],
    rows: Sequence[dict[str, Any]],
    placed: Sequence[Placed],
    boxes: Sequence[Box],
    tables: tuple[str, str] = ("notifications", "volumes"),
) -> None:
    """Notifications and their volumes by COPY, in the connection's current transaction."""
    with connection.cursor() as cursor:
        _copy(
            cursor,
            tables[0],
            NOTIFICATION_COLUMNS,
            ([r[c] for c in NOTIFICATION_COLUMNS] for r in rows),
        )
        _copy(cursor, tables[1], VOLUME_COLUMNS, volume_rows(rows, placed, boxes))


def check_copy_matches_store(
    url: str, rows: Sequence[dict[str, Any]], placed: Sequence[Placed], boxes: Sequence[Box]
) -> None:
    """The store holds exactly `rows`: COPY them into temporary tables and compare both ways."""
    with psycopg.connect(url) as connection:
        for table in ("notifications", "volumes"):
            connection.execute(
                f"CREATE TEMP TABLE copy_{table} AS SELECT * FROM {table} WITH NO DATA"
            )
        copy_in(connection, rows, placed, boxes, ("copy_notifications", "copy_volumes"))
        for table, columns in (
            ("notifications", NOTIFICATION_COLUMNS),
            ("volumes", VOLUME_COLUMNS),
        ):
            listed = ", ".join("ST_AsEWKB(area)" if c == "area" else c for c in columns)
            mine, copied = f"SELECT {listed} FROM {table}", f"SELECT {listed} FROM copy_{table}"
            differing = connection.execute(
                f"SELECT count(*) FROM (({mine} EXCEPT ALL {copied}) "
                f"UNION ALL ({copied} EXCEPT ALL {mine})) AS d"
            ).fetchone()
            if differing is None or differing[0]:
                raise RuntimeError(f"COPY writes {table} rows the store does not ({differing})")


def bulk_fill(
    url: str, rows: Sequence[dict[str, Any]], placed: Sequence[Placed], boxes: Sequence[Box]
) -> Iterator[int]:
    """COPY the rows, COPY_CHUNK per transaction, the index live; yields the count done."""
    with psycopg.connect(url) as connection:
        for first in range(0, len(rows), COPY_CHUNK):
            last = min(first + COPY_CHUNK, len(rows))
            with connection.transaction():
                copy_in(connection, rows[first:last], placed[first:last], boxes[first:last])
            yield last


def analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ANALYZE")


@dataclass(frozen=True)
class Sizes:
    database_mb: float
    index_mb: float


def sizes(url: str) -> Sizes:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT pg_database_size(current_database()), pg_relation_size('volumes_box')"
        ).fetchone()
    assert row is not None
    return Sizes(row[0] / 1e6, row[1] / 1e6)


def explain(url: str, mechanism_id: str, party_id: str, box: Box) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the store's own candidate query for one box."""
    with psycopg.connect(url) as connection:
        plan = connection.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + translate(CANDIDATES),
            (mechanism_id, *box_values(box), party_id),
        ).fetchall()
    return "\n".join(line for (line,) in plan)


def profile(
    url: str, mechanism_id: str, probes: Sequence[tuple[str, Box]]
) -> dict[str, np.ndarray]:
    """The candidate query on a plain connection, in ms per probe: the index search alone (its
    rows counted in the server), then the search with its rows sent and decoded by psycopg."""
    queries = {
        "search alone (SELECT count(*) of the query)": f"SELECT count(*) FROM ({CANDIDATES}) AS c",
        "search + rows fetched (execute + fetchall)": CANDIDATES,
    }
    times: dict[str, np.ndarray] = {}
    with psycopg.connect(url) as connection:
        for label, query in queries.items():
            spent = []
            for party, box in [*probes[:PROFILE_WARMUP], *probes]:
                started = time.perf_counter()
                connection.execute(
                    translate(query), (mechanism_id, *box_values(box), party)
                ).fetchall()
                spent.append(time.perf_counter() - started)
            times[label] = np.array(spent[PROFILE_WARMUP:]) * 1e3
    return times


def server_version(url: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT current_setting('server_version'), postgis_lib_version()"
        ).fetchone()
    assert row is not None
    return f"PostgreSQL {row[0]}, PostGIS {row[1]}"
