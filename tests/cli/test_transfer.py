"""Moving a whole deployment between databases: `deconfliction migrate`, `export` and `import`.

A deployment is built on a SQLite file through a real server: parties, two mechanisms,
notifications (circles, a polygon, a corridor) revised and cancelled, conflicts, acknowledgements,
messages with a reply and deliveries, an incident under review, webhooks with deliveries and
failed attempts, an escalation contact, a party key, an idempotent request, a revoked token and
a key rotation with `log rotate-key`; a party downloads its receipts; then it is exported once.

Each test imports that file into the run's backend (a SQLite file, or a PostgreSQL database under
DECONFLICTION_TEST_DB): every table's rows equal the source's both ways, the volume index and the
log's cached subtrees are rebuilt as the source has them, `audit verify` passes, and a server on
the copy continues where the source stopped (ids, event streams, conflicts with what was
imported, the log, old receipts). PostgreSQL → SQLite and PostgreSQL → PostgreSQL need both
backends, so they run on the PostgreSQL run only (`postgres_only`). Damaged files, a non-empty
target and a missing or wrong key are refused, naming the line or the key, with nothing imported.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from api.conftest import MovableClock, World, at, build_world, circle, corridor, simple, square
from api.webhook_receiver import Receiver
from backends import PREFIX, SERVER, Database, Databases
from nacl.signing import SigningKey
from typer.testing import CliRunner

from deconfliction.cli.main import app
from deconfliction.domain.candidates import COLUMNS
from deconfliction.keyfile import write_key
from deconfliction.proof import merkle
from deconfliction.services.transfer import exported_tables
from deconfliction.storage.schema import DESCRIPTIONS

from .servers import server_env, serving

runner = CliRunner()
OPERATOR = "operator-token-for-the-transfer-cli-test-0001"
INDEX = f"mechanism_id, {', '.join(COLUMNS)}, core_wkb"
BOXES = "notification_id, idx, x0, x1, y0, y1, z0, z1, a0, a1, t0, t1"

LATEST = max(DESCRIPTIONS)


def cli(*args: str, **env: str | None) -> Any:
    """The CLI in this process; DECONFLICTION_* settings only as given."""
    settings = {"DECONFLICTION_DB": None, "DECONFLICTION_SIGNING_KEY_FILE": None}
    return runner.invoke(app, list(args), env={**settings, **env})


def compact(text: str) -> str:
    return "".join(text.split())


def says(result: Any, *phrases: str) -> bool:
    """Whether the output holds every phrase, however Rich wrapped or folded the lines."""
    output = compact(result.output)
    return all(compact(phrase) in output for phrase in phrases)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sqlite_database(path: Path) -> Database:
    return Database(f"sqlite:///{path}", None, path)


def count(db: Database, sql: str) -> int:
    return int(db.rows(sql)[0][0])


def ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


def events_page(client: httpx.Client, token: str, **headers: str) -> dict[str, Any]:
    page: dict[str, Any] = ok(
        client.get(
            "/v1/events",
            params={"after": 0, "limit": 1000},
            headers={**bearer(token), "Accept": "application/json", **headers},
        )
    )
    return page


@dataclass
class Moved:
    """The source deployment, its export and what its parties held before the move."""

    source: Database
    export: Path
    proof: Path  # NORTH's proof file, downloaded before the move
    first_key: str
    tokens: dict[str, str]
    mechanism_id: str
    s1: str  # SOUTH's notification, which NORTH's first conflicted with
    north_events: list[dict[str, Any]]
    maxima: dict[str, int]  # the largest event, inbox, head id and log size in the source
    clock: MovableClock

    @property
    def key_file(self) -> Path:
        return self.source.signing_key


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"waited 20 s for {what}"
        time.sleep(0.1)


def _build(
    client: httpx.Client, url: str, source: Database, clock: MovableClock, receiver: Receiver
) -> tuple[World, str]:
    """The deployment, through the API; SOUTH's notification that NORTH's conflicts with."""
    world = build_world(client, clock, source, OPERATOR)  # type: ignore[arg-type]
    north, south, aid = world.north, world.south, world.aid
    second = world.new_mechanism(members=("NORTH", "SOUTH"))
    hook = ok(client.post("/v1/webhooks", json={"url": receiver.url}, headers=north.headers))
    receiver.secret = hook["secret"]
    dead = {"url": "http://127.0.0.1:9/hook"}
    ok(client.post("/v1/webhooks", json=dead, headers=south.headers))
    n1 = world.notify(north, simple(clock, circle(37.0, 36.5, 5_000), title="N1"))
    s1 = world.notify(south, simple(clock, circle(37.06, 36.5), kind="ground", title="S1"))
    assert s1["conflicts"]
    world.notify(aid, simple(clock, square(38.5, 36.5), kind="site", title="clinic"))
    world.notify(north, simple(clock, corridor([[39.0, 36.0], [39.3, 36.2]]), title="convoy"))
    world.notify(south, simple(clock, circle(40.0, 36.0)), second, **{"Idempotency-Key": "k-1"})
    world.notify(north, simple(clock, circle(40.01, 36.0), title="over there"), second)
    ok(
        client.put(
            f"/v1/notifications/{n1['id']}",
            json=simple(clock, circle(37.01, 36.5, 4_000), title="N1, moved"),
            headers={**north.headers, "If-Match": '"1"'},
        )
    )
    doomed = world.notify(south, simple(clock, circle(37.0, 36.52), title="to be cancelled"))
    assert doomed["conflicts"]
    ok(
        client.post(
            f"/v1/notifications/{doomed['id']}/cancel",
            json={"reason": "plan changed"},
            headers=south.headers,
        )
    )
    conflict = s1["conflicts"][0]["id"]
    ok(client.post(f"/v1/conflicts/{conflict}/acknowledge", headers=north.headers))
    ok(client.post(f"/v1/notifications/{s1['id']}/acknowledge", headers=north.headers))

    messages = f"/v1/mechanisms/{world.mechanism_id}/messages"
    query = {"to": [south.id], "type": "query", "body": "Convoy at 06:00 — confirm the route?"}
    message = ok(client.post(messages, json=query, headers=north.headers))["id"]
    ok(client.get(f"/v1/messages/{message}", headers=south.headers))
    ok(client.post(f"/v1/messages/{message}/acknowledge", headers=south.headers))
    answer = {"to": [north.id], "type": "answer", "body": "Confirmed.", "in_reply_to": message}
    ok(client.post(messages, json=answer, headers=south.headers))
    report = {
        "kind": "near-miss",
        "occurred_at": at(clock, minutes=-30),
        "place": circle(37.0, 36.5, 1_500),
        "description": "A helicopter passed within 300 m of the convoy.",
        "notification_ids": [n1["id"]],
        "conflict_ids": [conflict],
        "message_ids": [message],
    }
    incidents = f"/v1/mechanisms/{world.mechanism_id}/incidents"
    incident = ok(client.post(incidents, json=report, headers=north.headers))["id"]
    ok(client.post(f"/v1/incidents/{incident}/review", headers=world.operator))

    _, duty = world.new_token(north.id)
    escalation = f"/v1/mechanisms/{world.mechanism_id}/escalation"
    ok(client.put(escalation, json={"token_id": duty}, headers=north.headers))
    key = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
    ok(client.put("/v1/keys/me", json={"public_key": key}, headers=aid.headers))
    _, spare = world.new_token(aid.id)
    ok(client.delete(f"/v1/tokens/{spare}", headers=world.operator))
    rotated = cli("log", "rotate-key", DECONFLICTION_URL=url, DECONFLICTION_TOKEN=OPERATOR)
    assert rotated.exit_code == 0, rotated.output
    world.notify(aid, simple(clock, circle(37.5, 36.8), kind="site", title="after the rotation"))
    return world, str(s1["id"])


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moved]:
    folder = tmp_path_factory.mktemp("transfer")
    source = sqlite_database(folder / "source.db")
    env = {**server_env(source, OPERATOR), "DECONFLICTION_WEBHOOK_ALLOW_PRIVATE": "true"}
    clock = MovableClock(datetime.now(UTC).replace(microsecond=0))
    receiver = Receiver().start()
    try:
        with serving(env, folder) as url, httpx.Client(base_url=url, timeout=30) as client:
            world, s1 = _build(client, url, source, clock, receiver)
            tokens = {"operator": OPERATOR, "NORTH": world.north.token}
            proof = folder / "north-proof.json"
            downloaded = cli(
                "receipt",
                "download",
                "--out",
                str(proof),
                DECONFLICTION_URL=url,
                DECONFLICTION_TOKEN=tokens["NORTH"],
            )
            assert downloaded.exit_code == 0, downloaded.output
            head = ok(client.get("/v1/log/head", headers=bearer(OPERATOR)))
            first_key = next(k["public_key"] for k in head["keys"] if not k.get("announcement"))
            north_events = events_page(client, tokens["NORTH"])["events"]
            delivered = "SELECT count(*) FROM webhook_outbox WHERE state = 'delivered'"
            failed = "SELECT count(*) FROM webhook_attempts WHERE error IS NOT NULL"
            _wait(
                lambda: count(source, delivered) > 0 and count(source, failed) > 0,
                "a delivered webhook and a failed attempt",
            )
    finally:
        receiver.stop()
    maxima = {
        table: source.rows(f"SELECT max({column}) FROM {table}")[0][0]
        for table, column in (
            ("events", "id"),
            ("inbox", "id"),
            ("log_heads", "id"),
            ("log_entries", "idx"),
        )
    }
    export = folder / "deployment.jsonl.gz"
    exported = cli("export", "--db", source.url, "--out", str(export))
    assert exported.exit_code == 0, exported.output
    assert says(exported, "signing key is NOT in the file")
    yield Moved(
        source,
        export,
        proof,
        first_key,
        tokens,
        world.mechanism_id,
        s1,
        north_events,
        maxima,
        clock,
    )


# -- helpers: files, rows, imports ------------------------------------------------------------


def lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as handle:
        return handle.readlines()


def write(path: Path, content: list[bytes], *, reseal: bool = False) -> Path:
    """Write lines as an export file; `reseal`: recompute the end line's digest, as a careful
    forger would."""
    if reseal:
        end = json.loads(content[-1])
        end["end"]["sha256"] = hashlib.sha256(b"".join(content[:-1])).hexdigest()
        content = [*content[:-1], json.dumps(end).encode() + b"\n"]
    with gzip.open(path, "wb") as handle:
        handle.writelines(content)
    return path


def row_line(content: list[bytes], table: str, nth: int = 0) -> int:
    """The index in `content` of the nth row line of `table`."""
    start = next(
        i
        for i, line in enumerate(content)
        if line.startswith(b"{") and json.loads(line).get("table") == table
    )
    return start + 1 + nth


def table_rows(db: Database, table: str, names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    rows = db.rows(f"SELECT {', '.join(names)} FROM {table}")
    normal = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]
    return sorted(normal, key=repr)


def assert_same_rows(source: Database, target: Database) -> None:
    """Every shared table's rows, the volume index's exact data and the log's cached subtrees
    equal in both (compared as sorted lists: nothing missing, nothing extra, no duplicates)."""
    for table in exported_tables():
        mine, theirs = (
            table_rows(source, table.name, table.names),
            table_rows(target, table.name, table.names),
        )
        assert mine == theirs, table.name
    assert table_rows(source, "log_subtrees", ("start", "size", "digest")) == table_rows(
        target, "log_subtrees", ("start", "size", "digest")
    )
    index = [
        table_rows(db, "volume_index" if db.path else "volumes", tuple(INDEX.split(", ")))
        for db in (source, target)
    ]
    assert index[0] == index[1] and len(index[0]) >= 6
    if target.path is not None:  # SQLite to SQLite: the very same R*Tree boxes
        boxes = tuple(BOXES.split(", "))
        assert table_rows(source, "volume_index", boxes) == table_rows(
            target, "volume_index", boxes
        )


def nothing_in(target: Database) -> bool:
    if target.path is not None and not target.path.exists():
        return True
    names = [t.name for t in exported_tables()] + ["log_subtrees", "volumes"]
    return all(target.rows(f"SELECT count(*) FROM {name}")[0][0] == 0 for name in names)


def with_key(moved: Moved, target: Database) -> Database:
    target.signing_key.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(moved.key_file, target.signing_key)
    return target


def key_env(target: Database) -> dict[str, str | None]:
    return {"DECONFLICTION_SIGNING_KEY_FILE": str(target.key_file) if target.key_file else None}


def import_into(file: Path, target: Database) -> Any:
    return cli("import", str(file), "--db", target.url, **key_env(target))


# -- the move -----------------------------------------------------------------------------------


def test_the_export_file_describes_itself(moved: Moved) -> None:
    content = lines(moved.export)
    header = json.loads(content[0])
    assert header["format"] == "deconfliction-export" and header["version"] == 1
    assert header["schema_version"] == LATEST and header["source"]["backend"] == "sqlite"
    assert list(header["tables"]) == [t.name for t in exported_tables()]
    assert "log_subtrees" not in header["tables"]
    counts = {
        t.name: moved.source.rows(f"SELECT count(*) FROM {t.name}")[0][0] for t in exported_tables()
    }
    assert header["tables"] == counts
    assert all(
        counts[name] > 0 for name in ("webhook_attempts", "incidents", "idempotency", "party_keys")
    )
    assert header["log"]["size"] == moved.maxima["log_entries"] + 1
    assert len(header["service_keys"]) == 2 and header["signing_key_id"] in {
        k["key_id"] for k in header["service_keys"] if k["retired_at"] is None
    }
    assert sum(1 for line in content if line.startswith(b"[")) == sum(counts.values())
    end = json.loads(content[-1])["end"]
    assert end == {
        "rows": sum(counts.values()),
        "sha256": hashlib.sha256(b"".join(content[:-1])).hexdigest(),
    }
    key_text = moved.key_file.read_text().split(":", 1)[1].strip()
    assert key_text.encode() not in b"".join(content)  # the signing key is never in the file


def test_a_moved_deployment_keeps_everything_and_carries_on(
    moved: Moved, databases: Databases, tmp_path: Path
) -> None:
    target = with_key(moved, databases.new("target.db"))
    result = import_into(moved.export, target)
    assert result.exit_code == 0, result.output
    assert says(result, "the log verifies") and says(result, "volumes indexed")
    assert_same_rows(moved.source, target)
    audited = cli("audit", "verify", "--db", target.url)
    assert audited.exit_code == 0 and "the log is intact" in audited.output

    env = {**server_env(target, OPERATOR), "DECONFLICTION_WEBHOOK_ALLOW_PRIVATE": "true"}
    north = moved.tokens["NORTH"]
    with serving(env, tmp_path) as url, httpx.Client(base_url=url, timeout=30) as client:
        # The line resumes: the same events under the same ids, and after them the new ones.
        assert events_page(client, north)["events"] == moved.north_events
        created = ok(
            client.post(
                f"/v1/mechanisms/{moved.mechanism_id}/notifications",
                json=simple(moved.clock, circle(37.06, 36.5, 2_500), title="after the move"),
                headers=bearer(north),
            )
        )
        assert moved.s1 in {c["other_notification"] for c in created["conflicts"]}
        last = moved.north_events[-1]["id"]
        resumed = events_page(client, north, **{"Last-Event-ID": str(last)})["events"]
        assert resumed and all(e["id"] > last for e in resumed)
        assert [e["id"] for e in resumed] == sorted({e["id"] for e in resumed})
        assert created["id"] in {e["subject_id"] for e in resumed}

        # The log grows from the old head, provably, and old receipts verify against new heads.
        old_head = json.loads(lines(moved.export)[0])["log"]["head"]
        new_head = ok(client.post("/v1/log/head", headers=bearer(OPERATOR)))["tree_head"]
        assert created["receipt"]["leaf_index"] >= old_head["tree_size"]
        assert old_head["log_id"] and new_head["log_id"] == old_head["log_id"]  # the same log
        assert created["receipt"]["tree_head"]["log_id"] == old_head["log_id"]
        proof = ok(
            client.get(
                "/v1/log/consistency",
                params={"first": old_head["tree_size"], "second": new_head["tree_size"]},
                headers=bearer(north),
            )
        )["proof"]
        assert merkle.verify_consistency(
            old_head["tree_size"],
            new_head["tree_size"],
            [base64.b64decode(node) for node in proof],
            base64.b64decode(old_head["root_hash"]),
            base64.b64decode(new_head["root_hash"]),
        )
        kept = shutil.copy(moved.proof, tmp_path / "north-proof.json")
        downloaded = cli(
            "receipt",
            "download",
            "--out",
            str(kept),
            DECONFLICTION_URL=url,
            DECONFLICTION_TOKEN=north,
        )
        assert downloaded.exit_code == 0, downloaded.output
    held = json.loads(Path(kept).read_text())
    assert {h["tree_size"] for h in held["tree_heads"]} >= {
        old_head["tree_size"],
        new_head["tree_size"],
    }
    assert any(c["second"] >= new_head["tree_size"] for c in held["consistency"])
    verified = cli("receipt", "verify", str(kept), "--key", moved.first_key)
    assert verified.exit_code == 0, verified.output
    assert "consistency" in verified.output and says(verified, "verified: all")

    # Every id the target gave after the move continues right after the source's largest.
    for table, column in (
        ("events", "id"),
        ("inbox", "id"),
        ("log_heads", "id"),
        ("log_entries", "idx"),
    ):
        ((after,),) = target.rows(
            f"SELECT min({column}) FROM {table} WHERE {column} > ?", (moved.maxima[table],)
        )
        assert after == moved.maxima[table] + 1, table
    assert cli("audit", "verify", "--db", target.url).exit_code == 0


@pytest.mark.postgres_only
def test_from_postgresql_back_to_sqlite_and_to_another_postgresql(
    moved: Moved, databases: Databases, tmp_path: Path
) -> None:
    postgres = with_key(moved, databases.new("pg.db"))
    assert import_into(moved.export, postgres).exit_code == 0
    again = tmp_path / "again.jsonl.gz"
    exported = cli("export", "--db", postgres.url, "--out", str(again))
    assert exported.exit_code == 0, exported.output
    # The same rows, byte for byte: values keep their types and exact floats through PostgreSQL.
    assert lines(again)[1:-1] == lines(moved.export)[1:-1]
    assert json.loads(lines(again)[0])["source"]["backend"] == "postgresql"

    back = with_key(moved, sqlite_database(tmp_path / "back.db"))
    result = import_into(again, back)
    assert result.exit_code == 0, result.output
    assert_same_rows(moved.source, back)
    other = with_key(moved, databases.new("pg2.db"))
    assert import_into(again, other).exit_code == 0
    assert_same_rows(postgres, other)
    for database in (back, other):
        assert cli("audit", "verify", "--db", database.url).exit_code == 0


# -- refusals -------------------------------------------------------------------------------------


def test_a_database_that_holds_anything_is_refused(moved: Moved, databases: Databases) -> None:
    target = with_key(moved, databases.new("target.db"))
    assert import_into(moved.export, target).exit_code == 0
    before = table_rows(target, "parties", ("id",))
    again = import_into(moved.export, target)
    assert again.exit_code == 1
    message = compact(again.output)
    assert compact("the target database is not empty (parties: 4") in message
    assert (
        compact("do not run `init` or `serve` on it") in message
        and compact("nothing was imported") in message
    )
    assert table_rows(target, "parties", ("id",)) == before


@pytest.mark.parametrize(
    "problem",
    [
        "missing",
        "another key",
        pytest.param("not configured", marks=pytest.mark.postgres_only),  # SQLite has a default
    ],
)
def test_the_import_needs_the_logs_signing_key(
    moved: Moved, databases: Databases, problem: str
) -> None:
    target = databases.new("target.db")
    if problem == "another key":
        write_key(target.signing_key, SigningKey.generate())
    env = key_env(target) if problem != "not configured" else {}
    result = cli("import", str(moved.export), "--db", target.url, **env)
    assert result.exit_code == 1
    message = compact(result.output)
    assert compact("copy the source deployment's signing key file") in message
    assert compact("nothing was imported") in message
    header = json.loads(lines(moved.export)[0])
    assert compact(header["signing_key_id"]) in message
    if problem == "missing":
        assert compact(f"no signing key file at {target.signing_key}") in message
    elif problem == "another key":
        assert compact("not the imported log's current key") in message
    else:
        assert compact("DECONFLICTION_SIGNING_KEY_FILE") in message
    assert nothing_in(target)


def _truncated(path: Path, content: list[bytes]) -> tuple[Path, str]:
    whole = path.with_name("whole.gz")
    write(whole, content)
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path, "the file is truncated: its compressed data ends here"


def _damaged(kind: str, path: Path, content: list[bytes]) -> tuple[Path, str]:
    """The damaged file and what the error must say (with its line)."""
    if kind == "truncated":
        return _truncated(path, content)
    if kind == "not gzip":
        path.write_bytes(b"".join(content))
        return path, "line 1: not a gzip'd deconfliction export"
    if kind == "format version":
        header = json.loads(content[0]) | {"version": 2}
        return write(path, [json.dumps(header).encode() + b"\n", *content[1:]]), (
            "line 1: export format version 2; this deconfliction reads version 1"
        )
    if kind == "schema version":
        header = json.loads(content[0]) | {"schema_version": 3}
        return write(path, [json.dumps(header).encode() + b"\n", *content[1:]]), (
            f"line 1: exported at schema version 3, but this deconfliction's is {LATEST}"
        )
    if kind == "broken row":
        i = row_line(content, "revisions", 1)
        content[i] = content[i][:40] + b"\n"
        return write(path, content), f"line {i + 1}: not JSON"
    if kind == "wrong type":
        i = row_line(content, "notifications", 2)
        row = json.loads(content[i])
        row[6] = "two"  # version
        content[i] = json.dumps(row).encode() + b"\n"
        return write(path, content), f"line {i + 1}: notifications.version must be an integer"
    if kind == "missing row":
        i = row_line(content, "parties", 3)  # the last of the four
        del content[i]
        return write(path, content), f"line {i + 1}: parties has fewer rows than its section gives"
    if kind == "changed value":
        i = next(i for i, line in enumerate(content) if b"Convoy at 06:00" in line)
        content[i] = content[i].replace(b"Convoy at 06:00", b"Convoy at 07:00")
        return write(path, content), f"line {len(content)}: the lines above are not those exported"
    if kind == "forged entry, resealed":
        i = row_line(content, "log_entries", 5)
        row = json.loads(content[i])
        row[4] = row[4].replace('"v":1', '"v":1,"x":0')  # entry_json, its leaf hash unchanged
        content[i] = json.dumps(row, ensure_ascii=False).encode() + b"\n"
        return write(path, content, reseal=True), "the imported log does not verify"
    if kind == "after the end":
        return write(
            path, [*content, b"[]\n"]
        ), f"line {len(content) + 1}: there is more after the end"
    assert kind == "no end line"
    return write(path, content[:-1]), (
        f"after line {len(content) - 1}: the file ends before the end line: it is truncated"
    )


@pytest.mark.parametrize(
    "kind",
    [
        "truncated",
        "not gzip",
        "format version",
        "schema version",
        "broken row",
        "wrong type",
        "missing row",
        "changed value",
        "forged entry, resealed",
        "after the end",
        "no end line",
    ],
)
def test_a_damaged_file_is_refused_naming_the_line_and_nothing_is_imported(
    moved: Moved, databases: Databases, tmp_path: Path, kind: str
) -> None:
    target = with_key(moved, databases.new("target.db"))
    path, expected = _damaged(kind, tmp_path / "damaged.jsonl.gz", lines(moved.export))
    result = import_into(path, target)
    assert result.exit_code == 1, result.output
    message = compact(result.output)
    assert compact(expected) in message and compact("nothing was imported") in message, message
    assert nothing_in(target)


# -- migrate, and the export's own refusals -------------------------------------------------------


@pytest.mark.sqlite_only(reason="the PostgreSQL case has its own test below")
def test_migrate_shows_applies_and_checks_the_schema_versions(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    url = f"sqlite:///{path}"
    check = cli("migrate", "--check", "--db", url)
    versions = ", ".join(map(str, sorted(DESCRIPTIONS)))
    assert check.exit_code == 1 and says(check, f"migrations pending: {versions}")
    assert says(check, "there is no database yet") and not path.exists()
    done = cli("migrate", "--db", url)
    assert done.exit_code == 0 and says(
        done, f"applied {versions}; the database is at version {LATEST} of {LATEST}"
    )
    assert "(now)" in done.output and says(done, "incidents: reports")
    again = cli("migrate", "--check", "--db", url)
    assert again.exit_code == 0 and says(again, "nothing to apply")

    # A database an older deconfliction left at version 3: export refuses, migrate brings it on.
    database = sqlite_database(path)
    database.rows("DELETE FROM schema_migrations WHERE version >= 4")
    for table in ("incident_parties", "incident_links", "incidents"):
        database.rows(f"DROP TABLE {table}")
    database.rows("DROP INDEX notifications_start")
    database.rows("DROP TABLE log_identity")
    database.rows("ALTER TABLE log_heads DROP COLUMN log_id")
    database.rows("DROP INDEX idempotency_mechanism")
    database.rows("ALTER TABLE idempotency DROP COLUMN mechanism_id")
    database.rows("DROP INDEX conflicts_mechanism")
    database.rows("DROP INDEX inbox_pending")
    for index in ("conflicts_open_a", "conflicts_open_b", "conflicts_open"):
        database.rows(f"DROP INDEX {index}")
    database.rows("DROP INDEX log_entries_announcement")
    database.rows("ALTER TABLE log_entries DROP COLUMN announcement_id")
    for table in ("index_changes", "index_changes_pruned"):
        database.rows(f"DROP TABLE {table}")
    for old, new, column in (
        ("conflicts_na", "conflicts_na_pb", "notification_a"),
        ("conflicts_nb", "conflicts_nb_pa", "notification_b"),
    ):
        database.rows(f"DROP INDEX {new}")
        database.rows(f"CREATE INDEX {old} ON conflicts({column})")
    assert cli("migrate", "--check", "--db", url).exit_code == 1
    refused = cli("export", "--db", url, "--out", str(tmp_path / "x.gz"))
    assert refused.exit_code == 1 and says(refused, f"not at schema version {LATEST}")
    assert says(refused, "run `deconfliction migrate --db …`")
    assert not (tmp_path / "x.gz").exists()
    assert says(cli("migrate", "--db", url), "applied 4, 5, 6, 7, 8, 9, 10, 11, 12, 13;")
    missing = cli(
        "export", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path / "y.gz")
    )
    assert missing.exit_code == 1 and says(missing, "no database at")
    assert not (tmp_path / "none.db").exists()


@pytest.mark.postgres_only
def test_migrate_on_a_new_postgresql_database() -> None:
    name = f"{PREFIX}_migrate"
    url = SERVER.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE 'C.UTF-8'")
    try:
        check = cli("migrate", "--check", "--db", url)
        versions = ", ".join(map(str, sorted(DESCRIPTIONS)))
        assert check.exit_code == 1 and says(check, f"migrations pending: {versions}")
        done = cli("migrate", "--db", url)
        assert done.exit_code == 0 and says(done, f"applied {versions}")
        again = cli("migrate", "--check", "--db", url)
        assert again.exit_code == 0 and says(again, f"version {LATEST} of {LATEST}")
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    unreachable = cli("migrate", "--db", "postgresql://127.0.0.1:9/none")
    assert unreachable.exit_code == 1 and says(unreachable, "cannot open the PostgreSQL database")
