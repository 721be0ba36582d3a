"""`deconfliction incident` end to end: a real server process, each command a real process.

new → list → show → review → close → report --out DIR: the JSON file verifies with nothing but
the service's public key (checked here and by `deconfliction receipt verify`), and the HTML page
beside it shows the timeline with hostile text escaped. Refusals are readable and name the field.
"""

from __future__ import annotations

import json
import subprocess
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

# tests/api is importable as `api` (pytest puts tests/ on the path): the shared bundle checker.
from api.bundles import verify_bundle
from backends import Databases

from deconfliction.keyfile import read_key

from .servers import CLI, server_env, serving

OPERATOR = "operator-token-for-the-incident-cli-test-01"
HOSTILE = "<script>alert('x')</script>"


@dataclass
class Site:
    url: str
    env: dict[str, str]
    cwd: Path
    key_file: Path  # the service's signing key
    mechanism: str
    tokens: dict[str, str]  # code → bearer token
    conflict: str

    def run(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        token = OPERATOR if code == "operator" else self.tokens[code]
        env = {**self.env, "DECONFLICTION_URL": self.url, "DECONFLICTION_TOKEN": token}
        return subprocess.run(
            [*CLI, *args], env=env, cwd=self.cwd, capture_output=True, text=True, timeout=120
        )

    def ok(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(code, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    cwd = tmp_path_factory.mktemp("incidents")
    with Databases(cwd) as databases:
        database = databases.new("incidents.db")
        env = server_env(database, OPERATOR)
        with serving(env, cwd) as url:
            yield _site(url, env, cwd, database.signing_key)


def _site(url: str, env: dict[str, str], cwd: Path, key_file: Path) -> Site:
    """The served site: a mechanism, NORTH and SOUTH with a token each, and their conflict."""
    op = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=30)

    def post(path: str, body: dict[str, Any], token: str = OPERATOR) -> Any:
        response = op.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.is_success, response.text
        return response.json()

    mechanism = post("/v1/mechanisms", {"name": "Incident CLI test"})["id"]
    tokens = {}
    for code in ("NORTH", "SOUTH"):
        party = post("/v1/parties", {"name": f"Party {code}", "code": code, "contact": code})
        post(f"/v1/mechanisms/{mechanism}/members", {"party_id": party["id"]})
        tokens[code] = post(f"/v1/parties/{party['id']}/tokens", {"label": "duty"})["token"]
    start = datetime.now(UTC) + timedelta(hours=2)
    notified = {}
    for code, lon in (("NORTH", 37.0), ("SOUTH", 37.01)):
        volume = {
            "area": {"type": "Circle", "center": [lon, 36.5], "radius": 2_000},
            "altitude": {"lower": 0, "upper": 3_000, "units": "m", "reference": "AMSL"},
            "start": _instant(start),
            "end": _instant(start + timedelta(hours=3)),
        }
        body = {"kind": "air", "title": f"{code} sortie", "volumes": [volume]}
        notified[code] = post(f"/v1/mechanisms/{mechanism}/notifications", body, tokens[code])
    op.close()
    [conflict] = notified["SOUTH"]["conflicts"]
    return Site(url, env, cwd, key_file, mechanism, tokens, conflict["id"])


def test_report_review_close_and_save_the_report(site: Site) -> None:
    (site.cwd / "place.geojson").write_text(
        json.dumps(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [37.005, 36.5]},
                "properties": {"radius": 1500},
            }
        )
    )
    (site.cwd / "what.txt").write_text(f"Two aircraft passed within 300 m.\n{HOSTILE}")
    occurred = _instant(datetime.now(UTC) - timedelta(minutes=20))
    reported = site.ok(
        "NORTH",
        *("incident", "new", site.mechanism, "--kind", "near-miss"),
        *("--occurred-at", occurred, "--place", "place.geojson"),
        *("--description-file", "what.txt", "--conflict", site.conflict, "--json"),
    )
    incident = json.loads(reported.stdout)
    incident_id = incident["id"]
    assert incident["state"] == "reported" and incident["conflict_ids"] == [site.conflict]
    assert {p["code"] for p in incident["involved_parties"]} == {"NORTH", "SOUTH"}
    assert incident["place"] == {"type": "Circle", "center": [37.005, 36.5], "radius": 1500.0}

    listed = site.ok("SOUTH", "incident", "list", site.mechanism).stdout
    assert incident_id in listed and "near-miss" in listed and "reported" in listed
    shown = site.ok("SOUTH", "incident", "show", incident_id).stdout
    assert "Two aircraft passed within 300 m." in shown and HOSTILE in shown
    assert "under review" in site.ok("SOUTH", "incident", "review", incident_id).stdout
    # SOUTH answers on the line, citing the incident, signed.
    assert site.ok("SOUTH", "keygen", "south.key").returncode == 0
    site.ok("SOUTH", "register-key", "south.key")
    north_id = next(p["id"] for p in incident["involved_parties"] if p["code"] == "NORTH")
    answer = site.ok(
        "SOUTH",
        *("send", site.mechanism, "--to", north_id, "--type", "answer"),
        *("--body", "We moved the corridor.", "--ref-incident", incident_id),
        *("--sign-key", "south.key", "--json"),
    )
    sent = json.loads(answer.stdout)
    assert sent["references"]["incidents"] == [incident_id]
    assert sent["signature"] is not None
    refused = site.run("SOUTH", "incident", "close", incident_id, "--finding", "done")
    assert refused.returncode == 1 and "403" in refused.stderr
    closed = site.ok("NORTH", "incident", "close", incident_id, "--finding", "Corridor moved.")
    assert "closed" in closed.stdout

    out = site.cwd / "reports"
    saved = site.ok("SOUTH", "incident", "report", incident_id, "--out", str(out))
    json_file = out / f"incident-{incident_id}.json"
    html_file = out / f"incident-{incident_id}.html"
    assert str(json_file) in saved.stdout and str(html_file) in saved.stdout
    bundle = json.loads(json_file.read_text(encoding="utf-8"))
    key = bytes(read_key(site.key_file).verify_key)
    verify_bundle(bundle, key)
    checked = site.ok(
        "NORTH", "receipt", "verify", str(json_file), "--key", b64encode(key).decode()
    )
    assert "verified" in checked.stdout
    kinds = [item["kind"] for item in bundle["timeline"]]
    for kind in ("conflict.detected", "incident.reported", "incident.closed"):
        assert kind in kinds
    page = html_file.read_text(encoding="utf-8")
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert "deconfliction receipt verify" in page and incident_id in page
    assert bundle["tree_heads"][0]["log_id"] in page  # the log the heads are of


def test_refusals_name_the_field(site: Site) -> None:
    (site.cwd / "dot.geojson").write_text(
        json.dumps({"type": "Circle", "center": [37, 36.5], "radius": 50})
    )
    future = _instant(datetime.now(UTC) + timedelta(hours=1))
    refused = site.run(
        "NORTH",
        *("incident", "new", site.mechanism, "--kind", "near-miss", "--occurred-at", future),
        *("--place", "dot.geojson", "--description", "x", "--conflict", "cfl_0000000000000000"),
    )
    assert refused.returncode == 1
    assert "occurred_at" in refused.stderr and "conflict_ids[0]" in refused.stderr
    both = site.run(
        "NORTH",
        *("incident", "new", site.mechanism, "--kind", "other", "--occurred-at", future),
        "--place",
        "dot.geojson",
    )
    assert both.returncode == 1 and "--description" in both.stderr
    missing = site.run("NORTH", "incident", "show", "inc_0000000000000000")
    assert missing.returncode == 1 and "404" in missing.stderr
