"""The proof commands end to end, on real databases (SQLite files, or PostgreSQL databases under
DECONFLICTION_TEST_DB) and a real server.

`audit verify`: a log built through the real services, then tampered with directly in the
database — an entry changed (with and without its leaf hash), deleted, two entries swapped, a head's
root or signature replaced, the key chain broken — is caught, naming the entry or head.

`receipt download` / `receipt verify`: a party downloads its proof file from a served database,
writes more, downloads again (the file keeps its old heads and gains consistency proofs), and the
file verifies offline with the key pinned at the start; a tampered copy does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import rfc8785
from backends import Database, Databases
from nacl.signing import SigningKey
from typer.testing import CliRunner

from deconfliction.cli.main import app
from deconfliction.cli.proof import MAX_PROOF_FILE_BYTES
from deconfliction.domain.times import format_instant
from deconfliction.proof import merkle, receipts
from deconfliction.proof.tree_head import key_id, sign_tree_head
from deconfliction.runtime import open_context
from deconfliction.services import admin, audit, messages, notifications, service_keys, tokens
from deconfliction.services.audit import AuditReport, audit_log
from deconfliction.services.context import Context
from deconfliction.storage import open_store

from .servers import CLI, server_env, serving

runner = CliRunner()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def body(i: int, start: datetime) -> dict[str, Any]:
    """A one-hour air notification near (37 + i/10, 36), from `start`."""
    return {
        "kind": "air",
        "title": f"operation {i}",
        "volumes": [
            {
                "area": {"type": "Circle", "center": [37 + i / 10, 36.0], "radius": 3000},
                "altitude": {"lower": 0, "upper": 1000, "units": "m", "reference": "AMSL"},
                "start": format_instant(start),
                "end": format_instant(start + timedelta(hours=1)),
            }
        ],
    }


# -- a log built through the real services ------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A log of notifications, conflicts, a message and a key rotation, copied to one database."""
    with Databases(tmp_path_factory.mktemp("audit")) as made:
        live = made.new("live.db")
        ctx, _ = open_context(live.url, live.key_file)
        _build_log(ctx)
        ctx.store.close()
        yield made.copy(live, "pristine.db")


def _build_log(ctx: Context) -> None:
    operator = tokens.authenticate(ctx, tokens.create_operator_token(ctx))
    mechanism = admin.create_mechanism(ctx, operator, name="Audit test")["id"]
    actors = {}
    for code in ("NORTH", "SOUTH"):
        party = admin.create_party(ctx, operator, name=code.title(), code=code, contact=code)
        admin.add_member(ctx, operator, mechanism_id=mechanism, party_id=party["id"])
        token = tokens.create_party_token(ctx, operator, party_id=party["id"], label="duty")
        actors[code] = tokens.authenticate(ctx, token["token"])
    start = ctx.now() + timedelta(hours=3)
    for i in range(4):
        for code in ("NORTH", "SOUTH"):
            notifications.notify(ctx, actors[code], mechanism_id=mechanism, body=body(i, start))
    south = actors["SOUTH"].party_id
    message = {"to": [south], "type": "notice", "body": "Convoy on the east road at 06:00"}
    messages.send(ctx, actors["NORTH"], mechanism_id=mechanism, data=message)
    service_keys.rotate([ctx], operator)
    for i in range(4, 6):
        notifications.notify(ctx, actors["NORTH"], mechanism_id=mechanism, body=body(i, start))


@pytest.fixture
def db(pristine: Database, databases: Databases) -> Database:
    """A copy of the pristine log for one test to tamper with."""
    return databases.copy(pristine, "log.db")


def tamper(db: Database, sql: str, *params: Any) -> None:
    db.rows(sql, params)


def rows(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return db.rows(sql, params)


def check(db: Database, **options: Any) -> AuditReport:
    store = open_store(db.url)
    try:
        return audit_log(store, **options)
    finally:
        store.close()


def audit_cli(db: Database) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [*CLI, "audit", "verify", "--db", db.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def notification_entries(path: Database) -> list[int]:
    found = rows(path, "SELECT idx FROM log_entries WHERE kind = 'notification.created'")
    return [index for (index,) in found]


def rehash(path: Database, index: int, entry_json: str) -> None:
    """Replace an entry's text and recompute its leaf hash, as a careful forger would."""
    ((salt,),) = rows(path, "SELECT salt FROM log_entries WHERE idx = ?", index)
    digest = merkle.leaf_hash(salt + entry_json.encode("utf-8"))
    tamper(
        path,
        "UPDATE log_entries SET entry_json = ?, leaf_hash = ? WHERE idx = ?",
        entry_json,
        digest,
        index,
    )


def test_an_intact_log_passes(db: Database) -> None:
    result = audit_cli(db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the log is intact" in result.stdout
    report = check(db)
    assert report.ok and report.entries == report.log_size > 20
    assert report.heads >= 10 and report.keys == 2 and report.rotations == 1
    assert str(report.entries) in result.stdout


def test_a_changed_entry_is_named_exactly(db: Database) -> None:
    index = notification_entries(db)[3]
    tamper(
        db,
        "UPDATE log_entries SET entry_json = replace(entry_json, '\"version\":1', "
        "'\"version\":2') WHERE idx = ?",
        index,
    )
    result = audit_cli(db)
    assert result.returncode == 1
    assert f"first bad entry: entry {index}" in result.stdout
    report = check(db)
    assert report.first_bad_index == index
    assert [(f.check, f.index) for f in report.findings if f.index is not None] == [("leaf", index)]
    assert any(f.check == "root" for f in report.findings)  # the signed heads disagree too


def test_a_changed_entry_with_a_recomputed_leaf_hash_is_located_by_the_signed_heads(
    db: Path,
) -> None:
    index = notification_entries(db)[2]
    ((text,),) = rows(db, "SELECT entry_json FROM log_entries WHERE idx = ?", index)
    rehash(db, index, text.replace('"late":false', '"late":true'))
    report = check(db)
    assert report.first_bad_index is None
    assert report.suspect_range is not None
    first, last = report.suspect_range
    assert first <= index <= last and last - first < 4
    assert {f.check for f in report.findings} == {"root"}
    result = audit_cli(db)
    assert result.returncode == 1
    assert "first bad entry:" in result.stdout and str(first) in result.stdout


def test_a_non_canonical_entry_is_named(db: Database) -> None:
    index = notification_entries(db)[1]
    ((text,),) = rows(db, "SELECT entry_json FROM log_entries WHERE idx = ?", index)
    rehash(db, index, json.dumps(json.loads(text), indent=1))
    report = check(db)
    assert report.first_bad_index == index
    assert [f.check for f in report.findings if f.index == index] == ["canonical"]


def test_a_deleted_entry_is_found_where_it_was(db: Database) -> None:
    index = notification_entries(db)[4]
    tamper(db, "DELETE FROM log_entries WHERE idx = ?", index)
    report = check(db)
    assert report.first_bad_index == index
    assert report.findings[0].check == "sequence"
    assert report.findings[0].message == f"entry {index} is missing"
    assert any(f"cover entry {index}, which is missing" in f.message for f in report.findings)
    assert report.first_bad() == f"entry {index}"


def test_a_deleted_last_entry_is_found_by_the_head_that_covers_it(db: Database) -> None:
    ((last,),) = rows(db, "SELECT MAX(idx) FROM log_entries")
    tamper(db, "DELETE FROM log_entries WHERE idx = ?", last)
    report = check(db)
    assert report.first_bad_index == last
    assert f"it covers {last + 1} entries but the log holds {last}" in [
        f.message for f in report.findings
    ]


def test_two_swapped_entries_are_located_between_signed_heads(db: Database) -> None:
    first, second = notification_entries(db)[2], notification_entries(db)[5]
    columns = "kind, mechanism_id, subject_id, entry_json, salt, leaf_hash, created_at"
    one = rows(db, f"SELECT {columns} FROM log_entries WHERE idx = ?", first)[0]
    other = rows(db, f"SELECT {columns} FROM log_entries WHERE idx = ?", second)[0]
    assignments = ", ".join(f"{c} = ?" for c in columns.split(", "))
    tamper(db, f"UPDATE log_entries SET {assignments} WHERE idx = ?", *other, first)
    tamper(db, f"UPDATE log_entries SET {assignments} WHERE idx = ?", *one, second)
    report = check(db)
    assert report.first_bad_index is None  # each row is consistent in itself
    assert report.suspect_range is not None
    low, high = report.suspect_range
    assert low <= first <= high < second
    result = audit_cli(db)
    assert result.returncode == 1 and "first bad entry: " in result.stdout


def test_an_announcement_column_that_disagrees_with_its_entry_is_named(db: Database) -> None:
    """A conflict's entry records the message announcing it; the column that finds the entry by
    that message's id (an operator read's audience, an incident's timeline) must agree."""
    announced = rows(
        db, "SELECT idx FROM log_entries WHERE announcement_id IS NOT NULL ORDER BY idx"
    )
    assert len(announced) == 4  # one per conflict: the pair of each of the first four rounds
    index = announced[0][0]
    ((message,),) = rows(db, "SELECT id FROM messages WHERE sender_party IS NOT NULL")
    tamper(db, "UPDATE log_entries SET announcement_id = ? WHERE idx = ?", message, index)
    report = check(db)
    assert report.first_bad_index == index
    assert [(f.check, f.index) for f in report.findings] == [("columns", index)]
    assert "announcement_id" in report.findings[0].message


def test_a_replaced_head_root_or_signature_is_named(db: Database) -> None:
    head_id, size = rows(db, "SELECT id, tree_size FROM log_heads ORDER BY id LIMIT 1 OFFSET 5")[0]
    tamper(db, "UPDATE log_heads SET root_hash = ? WHERE id = ?", b64(bytes(32)), head_id)
    report = check(db)
    assert {(f.check, f.head.split(" (")[0]) for f in report.findings if f.head} == {
        ("signature", f"head #{head_id}"),
        ("root", f"head #{head_id}"),
    }
    assert report.first_bad() is None  # the entries agree with every validly signed head
    result = audit_cli(db)
    assert result.returncode == 1
    assert f"head #{head_id} (size {size}" in result.stdout
    assert "the problems above are in the heads or keys" in result.stdout


def test_a_replaced_head_signature_is_named(db: Database) -> None:
    (first_id, _), (second_id, _) = rows(
        db, "SELECT id, tree_size FROM log_heads ORDER BY id LIMIT 2"
    )
    ((signature,),) = rows(db, "SELECT signature FROM log_heads WHERE id = ?", second_id)
    tamper(db, "UPDATE log_heads SET signature = ? WHERE id = ?", signature, first_id)
    report = check(db)
    assert [(f.check, f.head.split(" (")[0]) for f in report.findings if f.head] == [
        ("signature", f"head #{first_id}")
    ]


def test_a_head_signed_by_an_unknown_key_is_named(db: Database) -> None:
    ((head_id,),) = rows(db, "SELECT MAX(id) FROM log_heads")
    tamper(db, "UPDATE log_heads SET key_id = ? WHERE id = ?", "AAAAAAAAAAAAAAAAAAAAAA==", head_id)
    (finding,) = [f for f in check(db).findings if f.head]
    assert finding.check == "signature" and "service_keys does not hold" in finding.message


def test_a_head_of_another_log_in_this_log_s_place_is_named(databases: Databases) -> None:
    """Signed with the service's key and agreeing with the entries, but naming another log (a
    head of another shard, say): the audit names it."""
    db = databases.new("named.db")
    ctx, _ = open_context(db.url, db.key_file)
    try:
        operator = tokens.authenticate(ctx, tokens.create_operator_token(ctx))
        admin.create_mechanism(ctx, operator, name="Named log")
        key = ctx.keys.current
    finally:
        ctx.store.close()
    ((log_id,),) = rows(db, "SELECT log_id FROM log_identity")
    assert rows(
        db, "SELECT COUNT(*) FROM log_heads WHERE log_id IS NULL OR log_id <> ?", log_id
    ) == [(0,)]
    ((head_id, size, root, stamp),) = rows(
        db, "SELECT id, tree_size, root_hash, timestamp FROM log_heads ORDER BY id DESC LIMIT 1"
    )
    assert check(db).ok
    other = "log_" + "e" * 32
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    moved = sign_tree_head(key, other, size, base64.b64decode(root), when)
    tamper(
        db,
        "UPDATE log_heads SET log_id = ?, signature = ? WHERE id = ?",
        other,
        moved.signature,
        head_id,
    )
    findings = [f for f in check(db).findings if f.head]
    assert [(f.check, f.head.split(" (")[0]) for f in findings] == [("head", f"head #{head_id}")]
    assert f"it names log {other}, not this log ({log_id})" in findings[0].message
    result = audit_cli(db)
    assert result.returncode == 1 and log_id in result.stdout


def test_a_log_from_before_log_ids_keeps_its_heads_and_names_itself_from_then_on(
    databases: Databases,
) -> None:
    """A database an older deconfliction left at schema version 5, its heads unnamed (v1): the
    migration keeps them, the audit still passes, and the heads signed after it name the log."""
    db = databases.new("older.db")
    ctx, _ = open_context(db.url, db.key_file)
    try:
        operator = tokens.authenticate(ctx, tokens.create_operator_token(ctx))
        admin.create_mechanism(ctx, operator, name="Before log ids")
        key = ctx.keys.current
    finally:
        ctx.store.close()
    leaves = [bytes(r[0]) for r in rows(db, "SELECT leaf_hash FROM log_entries ORDER BY idx")]
    at = "2031-05-01T06:00:00Z"
    fields = {
        "tree_size": len(leaves),
        "root_hash": b64(merkle.root(leaves)),
        "timestamp": at,
        "key_id": key_id(key.verify_key),
    }
    payload = rfc8785.dumps({"kind": "deconfliction/tree-head/v1", **fields})
    unnamed = {**fields, "signature": b64(key.sign(payload).signature)}
    tamper(db, "DELETE FROM log_heads")
    tamper(db, "DROP TABLE log_identity")
    tamper(db, "ALTER TABLE log_heads DROP COLUMN log_id")
    tamper(db, "DELETE FROM schema_migrations WHERE version = 6")
    tamper(
        db,
        "INSERT INTO log_heads (tree_size, root_hash, timestamp, key_id, signature) "
        "VALUES (?, ?, ?, ?, ?)",
        *unnamed.values(),
    )

    ctx, _ = open_context(db.url, db.key_file)  # migrates
    try:
        with ctx.store.read() as tx:
            assert tx.log_id() is None and tx.log_size() == len(leaves)
        operator = tokens.authenticate(ctx, tokens.create_operator_token(ctx))
        made = admin.create_mechanism(ctx, operator, name="After log ids")
    finally:
        ctx.store.close()
    named = made["receipt"]["tree_head"]
    ((log_id,),) = rows(db, "SELECT log_id FROM log_identity")
    assert named["log_id"] == log_id
    assert rows(db, "SELECT log_id FROM log_heads ORDER BY id") == [(None,), (log_id,)]
    assert check(db).ok
    # A reader holding both heads checks each; they are not compared with each other.
    held = receipts.parse({"format": receipts.FORMAT, "tree_heads": [unnamed, named]})
    assert [h.log_id for h in held.heads()] == [None, log_id]
    assert receipts.verify(held, [bytes(key.verify_key)]).ok


def test_a_key_added_without_an_announcement_is_refused(db: Database) -> None:
    intruder = SigningKey.generate().verify_key
    tamper(
        db,
        "INSERT INTO service_keys (key_id, public_key, activated_at) VALUES (?, ?, ?)",
        key_id(intruder),
        b64(bytes(intruder)),
        "2099-01-01T00:00:00Z",
    )
    (finding,) = check(db).findings
    assert finding.check == "key" and key_id(intruder) in finding.message


def test_a_forged_key_rotation_is_named(db: Database) -> None:
    ((index, text),) = rows(
        db, "SELECT idx, entry_json FROM log_entries WHERE kind = 'key.rotated'"
    )
    entry = json.loads(text)
    entry["data"]["signature"] = b64(bytes(64))
    rehash(db, index, json.dumps(entry, sort_keys=True, separators=(",", ":")))
    report = check(db)
    assert report.first_bad_index == index
    messages_at = [f.message for f in report.findings if f.index == index]
    assert any("not signed by the key active before it" in m for m in messages_at)
    assert report.first_bad() == f"entry {index}"


def test_a_key_record_moved_to_another_entry_is_named(db: Database) -> None:
    ((index,),) = rows(db, "SELECT idx FROM log_entries WHERE kind = 'key.rotated'")
    tamper(db, "UPDATE service_keys SET announced_at_idx = ? WHERE announced_at_idx = ?", 3, index)
    report = check(db)
    assert {(f.check, f.index) for f in report.findings} == {("key", index), ("key", 3)}


def test_small_batches_give_the_same_report_and_progress(db: Database) -> None:
    seen: list[tuple[int, int]] = []
    report = check(db, progress=lambda done, total: seen.append((done, total)), batch=3)
    assert report == check(db)
    assert seen[-1] == (report.log_size, report.log_size)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})
    assert len(seen) == -(-report.log_size // 3)


def test_the_frontier_gives_the_rfc_9162_root_at_every_size() -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(70)]
    frontier = audit.Frontier()
    assert frontier.root() == merkle.EMPTY_ROOT
    for size, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.root() == merkle.root(leaves[:size]), size
        assert len(frontier.nodes) == bin(size).count("1")


def test_audit_errors_are_clear(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 1 and "no database at" in result.output
    assert not (tmp_path / "none.db").exists()
    result = runner.invoke(app, ["audit", "verify", "--db", "mysql://host/db"])
    assert result.exit_code == 1 and "mysql" in result.output
    result = runner.invoke(app, ["audit", "verify", "--db", "postgresql://127.0.0.1:9/none"])
    assert result.exit_code == 1 and "cannot open the PostgreSQL database" in result.output


# -- receipt verify: what the command refuses ---------------------------------------------------


KEY = b64(bytes(SigningKey(b"\x05" * 32).verify_key))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not JSON"),
        (
            '{"format": "deconfliction-receipts/v1", "receipts": [{"leaf_index": "x"}]}',
            "receipts[0].leaf_index: must be a non-negative integer",
        ),
        ('{"receipts": 5}', "receipts: must be a list"),
        ('{"leaf_index": 1, "entry": {}, "salt": NaN}', "NaN is not valid JSON"),
        ("[]", "the document: must be a JSON object"),
    ],
)
def test_receipt_verify_refuses_malformed_files_naming_the_field(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "proof.json"
    path.write_text(content)
    result = runner.invoke(app, ["receipt", "verify", str(path), "--key", KEY])
    assert result.exit_code == 1
    assert expected in " ".join(result.output.split())


def test_receipt_verify_refuses_oversized_unreadable_files_and_bad_keys(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_PROOF_FILE_BYTES + 1)  # sparse: nothing is written
    result = runner.invoke(app, ["receipt", "verify", str(big), "--key", KEY])
    assert result.exit_code == 1 and "more than the" in result.output
    result = runner.invoke(app, ["receipt", "verify", str(tmp_path / "none"), "--key", KEY])
    assert result.exit_code == 1 and "cannot read" in result.output
    (tmp_path / "p.json").write_text("{}")
    for bad in ("c2hvcnQ=", str(tmp_path / "p.json")):
        result = runner.invoke(app, ["receipt", "verify", str(tmp_path / "p.json"), "--key", bad])
        assert result.exit_code == 1 and "32-byte Ed25519 public key" in result.output


# -- the round trip against a real server -------------------------------------------------------

OPERATOR = "operator-token-for-the-receipts-cli-test-0001"


@dataclass
class Served:
    url: str
    env: dict[str, str]
    cwd: Path
    db: Database
    mechanism: str
    tokens: dict[str, str]  # NORTH, SOUTH, operator

    def run(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "DECONFLICTION_URL": self.url, "DECONFLICTION_TOKEN": self.tokens[who]}
        return subprocess.run(
            [*CLI, *args], env=env, cwd=self.cwd, capture_output=True, text=True, timeout=120
        )

    def ok(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(who, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def notify(self, who: str, i: int) -> dict[str, Any]:
        start = datetime.now(UTC) + timedelta(hours=3)
        response = httpx.post(
            f"{self.url}/v1/mechanisms/{self.mechanism}/notifications",
            json=body(i, start),
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def served(tmp_path: Path, databases: Databases) -> Iterator[Served]:
    db = databases.new("served.db")
    env = server_env(db, OPERATOR, columns=250)
    with serving(env, tmp_path) as base:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=30
        ) as op:

            def post(path: str, payload: dict[str, Any]) -> dict[str, Any]:
                response = op.post(path, json=payload)
                assert response.is_success, response.text
                result: dict[str, Any] = response.json()
                return result

            mechanism = post("/v1/mechanisms", {"name": "Receipts CLI test"})["id"]
            tokens_by_code = {"operator": OPERATOR}
            for code in ("NORTH", "SOUTH"):
                party = post("/v1/parties", {"name": code.title(), "code": code, "contact": code})
                post(f"/v1/mechanisms/{mechanism}/members", {"party_id": party["id"]})
                token = post(f"/v1/parties/{party['id']}/tokens", {"label": "duty"})["token"]
                tokens_by_code[code] = token
        yield Served(base, env, tmp_path, db, mechanism, tokens_by_code)


def test_download_write_more_download_again_then_verify_offline(served: Served) -> None:
    first_receipt = served.notify("NORTH", 1)["receipt"]
    pinned = json.loads(served.ok("NORTH", "log", "head", "--json").stdout)["public_key"]
    assert "tree size" in served.ok("SOUTH", "log", "head").stdout
    (served.cwd / "service.pub").write_text(pinned + "\n")

    downloaded = served.ok("NORTH", "receipt", "download", "--out", "proof.json")
    assert "wrote proof.json" in downloaded.stdout and pinned in downloaded.stdout
    first = json.loads((served.cwd / "proof.json").read_text())
    assert first["format"] == "deconfliction-receipts/v1"
    assert first_receipt["leaf_index"] in [r["leaf_index"] for r in first["receipts"]]
    first_heads = {json.dumps(h, sort_keys=True) for h in first["tree_heads"]}

    served.notify("SOUTH", 1)  # a conflict with NORTH's notification
    rotated = served.ok("operator", "log", "rotate-key")
    assert "new_key_id" in rotated.stdout and "replaces" in rotated.stdout
    served.notify("NORTH", 2)
    served.ok("NORTH", "receipt", "download", "--out", "proof.json")
    second = json.loads((served.cwd / "proof.json").read_text())
    second_heads = {json.dumps(h, sort_keys=True) for h in second["tree_heads"]}
    assert first_heads < second_heads  # the old heads are kept
    assert len(second["receipts"]) > len(first["receipts"])
    assert second["consistency"] and len(second["key_rotations"]) == 1

    offline = {**served.env, "DECONFLICTION_URL": "http://127.0.0.1:9"}  # nothing listens there
    verify = [*CLI, "receipt", "verify", "proof.json", "--key", "service.pub"]
    result = subprocess.run(
        verify, env=offline, cwd=served.cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified: all" in result.stdout
    for kind in ("leaf", "inclusion", "rotation", "signature", "consistency"):
        assert kind in result.stdout

    receipt = second["receipts"][0]
    receipt["entry"]["data"]["version"] = 99
    (served.cwd / "proof.json").write_text(json.dumps(second))
    tampered = subprocess.run(
        verify, env=offline, cwd=served.cwd, capture_output=True, text=True, timeout=120
    )
    assert tampered.returncode == 1
    assert "NOT verified" in tampered.stdout
    assert f"entry {receipt['leaf_index']}" in tampered.stdout

    other = b64(bytes(SigningKey.generate().verify_key))
    wrong = served.run("NORTH", "receipt", "verify", "proof.json", "--key", other)
    assert wrong.returncode == 1 and "not trusted" in wrong.stdout

    audited = served.ok("operator", "audit", "verify", "--db", served.db.url)
    assert "the log is intact" in audited.stdout
