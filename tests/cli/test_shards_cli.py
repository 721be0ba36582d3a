"""A deployment over two databases end to end: `deconfliction serve` with DECONFLICTION_SHARDS
(two SQLite files, or two PostgreSQL databases on the local server under DECONFLICTION_TEST_DB),
mechanisms on both shards, the key rotated in both logs, a party's proof file holding both
shards' logs, verified offline with the first key; and
a routing table that cannot be used refused at start, naming the entry."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from backends import Databases

from deconfliction.domain.times import format_instant
from deconfliction.keyfile import read_key

from .servers import CLI, server_env, serving

OPERATOR = "dcf_operator-token-for-the-two-shard-test-000000"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _notify(client: httpx.Client, token: str, mechanism: str, lon: float) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=2)
    body = {
        "kind": "air",
        "title": f"sortie at {lon}",
        "volumes": [
            {
                "area": {"type": "Circle", "center": [lon, 36.0], "radius": 3000},
                "altitude": {"lower": 0, "upper": 1000, "units": "m", "reference": "AMSL"},
                "start": format_instant(start),
                "end": format_instant(start + timedelta(hours=1)),
            }
        ],
    }
    auth = {"Authorization": f"Bearer {token}"}
    made: dict[str, Any] = _ok(
        client.post(f"/v1/mechanisms/{mechanism}/notifications", json=body, headers=auth)
    )
    return made


def test_a_two_shard_deployment_serves_both_and_its_proof_file_verifies(
    databases: Databases, tmp_path: Path
) -> None:
    home, east = databases.new("home.db"), databases.new("east.db")
    table = tmp_path / "shards.toml"
    table.write_text(f'[shards]\nhome = "{home.url}"\neast = "{east.url}"\n')
    key_file = tmp_path / "service.signing-key"
    env = {
        **{k: v for k, v in server_env(home, OPERATOR).items() if k != "DECONFLICTION_DB"},
        "DECONFLICTION_SHARDS": str(table),
        "DECONFLICTION_SIGNING_KEY_FILE": str(key_file),
    }
    proof = tmp_path / "north-proof.json"
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    with serving(env, tmp_path) as url, httpx.Client(base_url=url, timeout=30) as client:
        north = _ok(
            client.post("/v1/parties", json={"name": "North", "code": "NORTH"}, headers=operator)
        )
        token = _ok(client.post(f"/v1/parties/{north['id']}/tokens", json={}, headers=operator))
        mechanisms = []
        for shard in ("home", "east"):
            made = _ok(
                client.post(
                    "/v1/mechanisms", json={"name": shard, "shard": shard}, headers=operator
                )
            )
            _ok(
                client.post(
                    f"/v1/mechanisms/{made['id']}/members",
                    json={"party_id": north["id"]},
                    headers=operator,
                )
            )
            mechanisms.append(made["id"])
        written = [_notify(client, token["token"], m, 30.0 + i) for i, m in enumerate(mechanisms)]
        logs = {w["receipt"]["tree_head"]["log_id"] for w in written}
        assert len(logs) == 2  # each shard's own log
        head = _ok(client.get("/v1/log/head", params={"shard": "east"}, headers=operator))
        assert head["shard"] == "east" and head["shards"] == ["home", "east"]
        assert head["log_id"] == written[1]["receipt"]["tree_head"]["log_id"]
        operator_env = {**env, "DECONFLICTION_URL": url, "DECONFLICTION_TOKEN": OPERATOR}
        made = _run(operator_env, "operator", "mechanism", "by the CLI", "--shard", "east")
        assert made.returncode == 0, made.stderr
        assert east.rows("SELECT 1 FROM mechanisms WHERE id = ?", (json.loads(made.stdout)["id"],))
        nowhere = _run(operator_env, "operator", "mechanism", "nowhere", "--shard", "west")
        assert nowhere.returncode == 1 and "'west' is not a shard" in nowhere.stderr

        run_env = {**env, "DECONFLICTION_URL": url, "DECONFLICTION_TOKEN": token["token"]}
        for more in range(2):  # the second download adds heads and the consistency proofs
            done = _run(run_env, "receipt", "download", "--out", str(proof))
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.count("newest head: log ") == 2
            for i, mechanism in enumerate(mechanisms):  # both logs grow
                _notify(client, token["token"], mechanism, 40.0 + 2 * more + i)

        # The key is rotated: both logs announce the new one, signed by the first.
        first_key = base64.b64encode(bytes(read_key(key_file).verify_key)).decode()
        rotated = _run(operator_env, "log", "rotate-key")
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        announced = " ".join(rotated.stdout.split())
        assert "announced in the log of shard home" in announced
        assert "announced in the log of shard east" in announced
        assert base64.b64encode(bytes(read_key(key_file).verify_key)).decode() != first_key

        # Moved to the home shard while the service runs: its next request finds it there.
        moved = _run(env, "shards", "move", mechanisms[1], "--to", "home")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert f"moved {mechanisms[1]} from east to home" in " ".join(moved.stdout.split())
        listed = _run(env, "shards", "list")
        assert listed.returncode == 0 and listed.stdout.count(mechanisms[1]) == 1
        again = _run(env, "shards", "move", mechanisms[1], "--to", "home")
        assert again.returncode == 1 and "already on shard home" in again.stderr
        auth = {"Authorization": f"Bearer {token['token']}"}
        served = _ok(client.get(f"/v1/mechanisms/{mechanisms[1]}/notifications", headers=auth))
        assert len(served) == 3
        after_move = _notify(client, token["token"], mechanisms[1], 50.0)
        home_log = written[0]["receipt"]["tree_head"]["log_id"]
        assert after_move["receipt"]["tree_head"]["log_id"] == home_log  # now in home's log
        done = _run(run_env, "receipt", "download", "--out", str(proof))
        assert done.returncode == 0, done.stdout + done.stderr

    held = json.loads(proof.read_text())
    kinds = {(r["tree_head"]["log_id"], r["entry"]["kind"]) for r in held["receipts"]}
    assert {(log, "mechanism.moved") for log in logs} <= kinds  # logged on both shards
    assert {h["log_id"] for h in held["tree_heads"]} == logs
    assert {c["log_id"] for c in held["consistency"]} == logs
    assert len(held["key_rotations"]) == 2  # the one new key, announced in each shard's log
    verified = _run(dict(os.environ), "receipt", "verify", str(proof), "--key", first_key)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified: all" in " ".join(verified.stdout.split())


def test_a_routing_table_that_cannot_be_used_is_refused_at_start(
    databases: Databases, tmp_path: Path
) -> None:
    home = databases.new("home.db")
    table = tmp_path / "shards.toml"
    table.write_text(
        f'[shards]\nhome = "{home.url}"\n[mechanisms]\nmec_0123456789abcdef = "west"\n'
    )
    env = {
        **{k: v for k, v in server_env(home, OPERATOR).items() if k != "DECONFLICTION_DB"},
        "DECONFLICTION_SHARDS": str(table),
        "DECONFLICTION_SIGNING_KEY_FILE": str(tmp_path / "key"),
    }
    refused = _run(env, "init")
    assert refused.returncode == 1
    assert "mechanisms.mec_0123456789abcdef: 'west' is not a shard" in refused.stderr
    both = _run(env, "init", "--db", home.url)
    assert both.returncode == 1 and "DECONFLICTION_SHARDS" in both.stderr
