"""The CLI end to end: init and serve as real processes, client commands over real HTTP."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backends import Database, Databases

from .servers import CLI, free_port, wait_ready


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def database(databases: Databases) -> Database:
    return databases.new("line.db")


@pytest.fixture
def env(database: Database) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DECONFLICTION_")}
    return {**clean, **database.server_env(), "COLUMNS": "200"}


def test_init_prints_the_operator_token_once(
    env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    first = run(["init"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert token.startswith("dcf_") and len(token) > 40
    again = run(["init"], env, tmp_path)
    assert again.returncode == 0
    assert token not in again.stdout + again.stderr
    assert database.rows("SELECT count(*) FROM tokens WHERE party_id IS NULL") == [(1,)]


def test_init_creates_the_log_signing_key_readable_by_its_owner_only(
    env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    first = run(["init"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = database.signing_key
    assert key_file == tmp_path / "line.db.signing-key"
    assert f"log signing key created: {key_file}" in " ".join(first.stderr.split())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_text()
    assert content.startswith("ed25519:") and content not in first.stdout + first.stderr
    again = run(["init"], env, tmp_path)
    assert again.returncode == 0 and "key created" not in again.stderr
    assert key_file.read_text() == content

    elsewhere = tmp_path / "keys" / "service.key"
    given = run(["init"], {**env, "DECONFLICTION_SIGNING_KEY_FILE": str(elsewhere)}, tmp_path)
    # This log has a key: a missing key file is an error, never a new key.
    assert given.returncode == 1
    assert "restore that key file" in " ".join(given.stderr.split())
    assert not elsewhere.exists()
    key_file.chmod(0o644)
    too_open = run(["init"], env, tmp_path)
    assert too_open.returncode == 1 and "chmod 600" in " ".join(too_open.stderr.split())


def test_init_honours_the_operator_token_from_the_environment(
    env: dict[str, str], tmp_path: Path
) -> None:
    given = "an-operator-token-for-automated-deployments-0001"
    result = run(["init"], {**env, "DECONFLICTION_OPERATOR_TOKEN": given}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert given not in result.stdout + result.stderr
    too_short = run(["init"], {**env, "DECONFLICTION_OPERATOR_TOKEN": "short"}, tmp_path)
    assert too_short.returncode == 1
    assert "DECONFLICTION_OPERATOR_TOKEN" in too_short.stderr


def test_an_unknown_database_url_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["init", "--db", "mysql://somewhere/db"], env, tmp_path)
    assert result.returncode == 1
    assert "unknown database URL scheme" in result.stderr


def test_a_postgresql_database_needs_a_signing_key_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    """No file to keep the key beside: the setting is required, and asked for by name; a server
    that cannot be reached is a clear error too."""
    without = {k: v for k, v in env.items() if k != "DECONFLICTION_SIGNING_KEY_FILE"}
    result = run(["init", "--db", "postgresql://127.0.0.1:9/none"], without, tmp_path)
    assert result.returncode == 1
    assert "DECONFLICTION_SIGNING_KEY_FILE" in result.stderr
    given = {**without, "DECONFLICTION_SIGNING_KEY_FILE": str(tmp_path / "key")}
    unreachable = run(["init", "--db", "postgresql://127.0.0.1:9/none"], given, tmp_path)
    assert unreachable.returncode == 1
    assert "cannot open the PostgreSQL database" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_operator_and_client_commands_against_a_served_database(
    env: dict[str, str], tmp_path: Path
) -> None:
    operator = "operator-token-for-the-cli-end-to-end-test-0001"
    env = {**env, "DECONFLICTION_OPERATOR_TOKEN": operator}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(url, server)
        op_env = {**env, "DECONFLICTION_URL": url, "DECONFLICTION_TOKEN": operator}

        def op(*args: str) -> dict:
            result = run(["operator", *args], op_env, tmp_path)
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)

        mechanism = op("mechanism", "Test line", "--rules", '{"time_buffer_min": 30}')
        assert mechanism["rules"]["time_buffer_min"] == 30
        parties = {
            code: op("party", f"Party {code}", code, "--contact", f"desk {code}")
            for code in ("NORTH", "SOUTH")
        }
        tokens = {}
        for code, party in parties.items():
            op("member", mechanism["id"], party["id"])
            tokens[code] = op("token", party["id"], "--label", "duty")["token"]

        start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        feature = {
            "type": "FeatureCollection",
            "properties": {"kind": "air", "title": "Sortie"},
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [38.0, 36.0]},
                    "properties": {
                        "radius": 5000,
                        "start": start.isoformat(),
                        "end": (start + timedelta(hours=2)).isoformat(),
                        "altitude": {"lower": 0, "upper": 3000, "units": "m", "reference": "AMSL"},
                    },
                }
            ],
        }
        (tmp_path / "north.geojson").write_text(json.dumps(feature))
        feature["features"][0]["geometry"]["coordinates"] = [38.05, 36.0]
        (tmp_path / "south.geojson").write_text(json.dumps(feature))

        def client(code: str, *args: str) -> subprocess.CompletedProcess[str]:
            return run(
                list(args),
                {**env, "DECONFLICTION_URL": url, "DECONFLICTION_TOKEN": tokens[code]},
                tmp_path,
            )

        north = client("NORTH", "notify", "north.geojson", "-m", mechanism["id"])
        assert north.returncode == 0, north.stderr
        assert "no conflicts" in north.stdout
        south = client("SOUTH", "notify", "south.geojson", "-m", mechanism["id"])
        assert south.returncode == 0, south.stderr
        assert "1 conflict(s)" in south.stdout and "NORTH" in south.stdout

        listed = client("NORTH", "conflicts", "--json")
        conflicts = json.loads(listed.stdout)
        assert len(conflicts) == 1 and conflicts[0]["other_party"]["code"] == "SOUTH"
        seen = client("NORTH", "notifications", "-m", mechanism["id"], "--json")
        views = {v["party"]["code"]: v for v in json.loads(seen.stdout)}
        assert views["NORTH"]["disclosure"] == "whole"
        assert views["SOUTH"]["disclosure"] == "overlap" and "title" not in views["SOUTH"]

        acked = client("NORTH", "ack", "conflict", conflicts[0]["id"])
        assert acked.returncode == 0, acked.stderr
        assert "received and read" in acked.stdout
        after = json.loads(client("NORTH", "conflicts", "--json").stdout)
        assert after[0]["acknowledged"] is True

        missing = client("NORTH", "ack", "conflict", "cfl_0000000000000000")
        assert missing.returncode == 1 and "404" in missing.stderr
        bad = client("SOUTH", "notify", "north.geojson", "-m", "mec_unknown")
        assert bad.returncode == 1 and "404" in bad.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = (server.stdout.read() if server.stdout else "") + (
        server.stderr.read() if server.stderr else ""
    )
    for secret in (operator, *tokens.values()):
        assert secret not in log


def test_demo_builds_a_scenario_with_conflicts(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["demo", "--dir", "demo", "--no-serve"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "37 notifications" in result.stdout
    for code in ("ARV", "BEF", "MMR"):
        assert code in result.stdout
    count = int(result.stdout.split("notifications, ")[1].split(" open conflicts")[0])
    assert 3 <= count <= 15
