"""The line's CLI end to end: a real server process, each command run as a real process.

send → the recipient's inbox shows it → ack → status; keygen → register-key → send --sign-key →
the downloaded message verifies offline and a tampered copy does not; errors are readable.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from backends import Databases

from .servers import CLI, server_env, serving

OPERATOR = "operator-token-for-the-line-cli-test-000001"


@dataclass
class Line:
    url: str
    env: dict[str, str]
    cwd: Path
    mechanism: str
    parties: dict[str, str]  # code → party id
    tokens: dict[str, str]  # code → bearer token

    def run(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A CLI command as party `code`, against the served database."""
        env = {**self.env, "DECONFLICTION_URL": self.url, "DECONFLICTION_TOKEN": self.tokens[code]}
        return subprocess.run(
            [*CLI, *args], env=env, cwd=self.cwd, capture_output=True, text=True, timeout=120
        )

    def ok(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(code, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def send(self, to: list[str], kind: str, *args: str) -> list[str]:
        """The arguments of `send` to the parties `to` (codes)."""
        recipients = [a for c in to for a in ("--to", self.parties[c])]
        return ["send", self.mechanism, *recipients, "--type", kind, *args]

    def get(self, code: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[code]}"}
        return httpx.get(self.url + path, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    cwd = tmp_path_factory.mktemp("line")
    with Databases(cwd) as databases:
        env = server_env(databases.new("line.db"), OPERATOR)
        with serving(env, cwd) as url:
            yield _line(url, env, cwd)


def _line(url: str, env: dict[str, str], cwd: Path) -> Line:
    """The served line with its mechanism and three parties, each with a token."""
    op = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=30)

    def post(path: str, body: dict) -> dict:
        response = op.post(path, json=body)
        assert response.is_success, response.text
        return response.json()

    mechanism = post("/v1/mechanisms", {"name": "Line CLI test"})["id"]
    parties, tokens = {}, {}
    for code in ("NORTH", "SOUTH", "EAST"):
        party = post("/v1/parties", {"name": f"Party {code}", "code": code, "contact": code})
        post(f"/v1/mechanisms/{mechanism}/members", {"party_id": party["id"]})
        parties[code] = party["id"]
        tokens[code] = post(f"/v1/parties/{party['id']}/tokens", {"label": "duty"})["token"]
    op.close()
    return Line(url, env, cwd, mechanism, parties, tokens)


def test_send_inbox_ack_status(line: Line) -> None:
    sent = line.ok(
        "NORTH",
        "send",
        line.mechanism,
        "--to",
        line.parties["SOUTH"],
        "--to",
        line.parties["EAST"],
        "--type",
        "query",
        "--body",
        "Convoy at grid 37S at 06:00: is the road open?",
        "--urgent",
        "--json",
    )
    message = json.loads(sent.stdout)
    assert message["id"].startswith("msg_")
    assert message["priority"] == "urgent" and message["type"] == "query"
    assert sorted(r["party_id"] for r in message["recipients"]) == sorted(
        [line.parties["SOUTH"], line.parties["EAST"]]
    )

    inbox = line.ok("SOUTH", "inbox", "--mechanism", line.mechanism)
    assert message["id"] in inbox.stdout
    assert "message" in inbox.stdout
    assert "pending" in inbox.stdout or "delivered" in inbox.stdout
    assert "overdue" not in inbox.stdout
    items = json.loads(line.ok("SOUTH", "inbox", "--json").stdout)
    assert [i["subject_id"] for i in items] == [message["id"]]
    assert message["id"] not in line.ok("NORTH", "inbox").stdout  # the sender owes nothing

    acked = line.ok("SOUTH", "ack", message["id"])
    assert f"acknowledged message {message['id']}" in acked.stdout
    assert "received and read" in acked.stdout
    assert message["id"] not in line.ok("SOUTH", "inbox").stdout
    everything = line.ok("SOUTH", "inbox", "--state", "all").stdout
    assert message["id"] in everything and "acknowledged" in everything
    again = line.ok("SOUTH", "ack", "message", message["id"])  # the kind may be named too
    assert "received and read" in again.stdout

    seen = line.get("NORTH", f"/v1/messages/{message['id']}").json()
    states = {r["party_id"]: r["state"] for r in seen["recipients"]}
    assert states[line.parties["SOUTH"]] == "acknowledged"
    assert states[line.parties["EAST"]] != "acknowledged"

    status = line.ok("EAST", "status", line.mechanism)
    for code in ("NORTH", "SOUTH", "EAST"):
        assert code in status.stdout
    assert "no webhook" in status.stdout and "last contact" in status.stdout
    members = json.loads(line.ok("EAST", "status", line.mechanism, "--json").stdout)["members"]
    assert {m["party"]["code"] for m in members} == {"NORTH", "SOUTH", "EAST"}
    assert all(m["overdue_items"] == 0 for m in members)


def test_a_reply_with_references_deadline_and_attachment(line: Line) -> None:
    first = json.loads(
        line.ok("EAST", *line.send(["NORTH"], "notice", "--body", "Site survey", "--json")).stdout
    )
    (line.cwd / "area.geojson").write_text(
        json.dumps(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [38.0, 36.0]},
                "properties": {"radius": 2500},
            }
        )
    )
    (line.cwd / "reply.txt").write_text("Understood.\nWe keep clear of this circle.")
    deadline = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    options = ["--body-file", "reply.txt", "--reply-to", first["id"], "--json"]
    options += ["--deadline", deadline.isoformat().replace("+00:00", "Z")]
    options += ["--attachment", "area.geojson"]
    reply = json.loads(line.ok("NORTH", *line.send(["EAST"], "answer", *options)).stdout)
    assert reply["thread_id"] == first["id"] and reply["in_reply_to"] == first["id"]
    assert reply["body"] == "Understood.\nWe keep clear of this circle."
    assert reply["attachment"] == {"type": "Circle", "center": [38.0, 36.0], "radius": 2500.0}
    assert reply["recipients"][0]["deadline"].startswith(deadline.strftime("%Y-%m-%dT%H:%M"))

    options = ["--body", "see this", "--ref-conflict", "cfl_0000000000000000"]
    unknown_ref = line.run("NORTH", *line.send(["EAST"], "text", *options))
    assert unknown_ref.returncode == 1
    assert "references.conflicts[0]" in unknown_ref.stderr


def test_keygen_register_sign_and_verify_offline(line: Line) -> None:
    made = line.ok("NORTH", "keygen", "north.key")
    key_file = line.cwd / "north.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = made.stdout.strip()
    assert len(base64.b64decode(public)) == 32
    assert public not in key_file.read_text()  # the file holds the private seed
    refused = line.run("NORTH", "keygen", "north.key")
    assert refused.returncode == 1 and "exists" in refused.stderr

    registered = line.ok("NORTH", "register-key", "north.key")
    assert public in registered.stdout
    key = line.get("SOUTH", f"/v1/parties/{line.parties['NORTH']}/key").json()
    assert key["public_key"] == public

    (line.cwd / "corridor.json").write_text(
        json.dumps(
            {
                "type": "Corridor",
                "line": {"type": "LineString", "coordinates": [[38, 36], [38.1, 36.05]]},
                "half_width": 1000,
            }
        )
    )
    options = ["--body", "Unplanned landing near the corridor — ünïcode ✓"]
    options += ["--attachment", "corridor.json", "--sign-key", "north.key"]
    sent = line.ok("NORTH", *line.send(["SOUTH", "EAST"], "incident", *options))
    assert "(signed)" in sent.stdout
    message_id = sent.stdout.split()[1]
    assert message_id.startswith("msg_")

    downloaded = line.get("SOUTH", f"/v1/messages/{message_id}")
    assert downloaded.status_code == 200
    (line.cwd / "message.json").write_text(downloaded.text)
    verified = line.ok("SOUTH", "verify-message", "message.json", "--key", public)
    assert verified.stdout.startswith("verified")
    assert line.ok("SOUTH", "verify-message", "message.json").stdout.startswith("verified")

    tampered = json.loads(downloaded.text)
    tampered["body"] = "Nothing happened."
    (line.cwd / "tampered.json").write_text(json.dumps(tampered))
    failed = line.run("SOUTH", "verify-message", "tampered.json", "--key", public)
    assert failed.returncode == 1
    assert "NOT verified" in failed.stderr and "body differs" in failed.stderr

    tampered = json.loads(downloaded.text)
    tampered["signature"]["signed"]["body"] = "Nothing happened."
    tampered["body"] = "Nothing happened."
    (line.cwd / "forged.json").write_text(json.dumps(tampered))
    forged = line.run("SOUTH", "verify-message", "forged.json", "--key", public)
    assert forged.returncode == 1 and "does not verify" in forged.stderr

    other = line.ok("EAST", "keygen", "east.key").stdout.strip()
    wrong_key = line.run("SOUTH", "verify-message", "message.json", "--key", other)
    assert wrong_key.returncode == 1 and "does not verify" in wrong_key.stderr

    unsigned = line.ok("SOUTH", *line.send(["NORTH"], "text", "--body", "unsigned", "--json"))
    (line.cwd / "unsigned.json").write_text(unsigned.stdout)
    no_signature = line.run("SOUTH", "verify-message", "unsigned.json")
    assert no_signature.returncode == 1 and "no signature" in no_signature.stderr

    # A key other than the registered one: the server refuses the signature, readably.
    options = ["--body", "signed with the wrong key", "--sign-key", "east.key"]
    bad = line.run("NORTH", *line.send(["SOUTH"], "text", *options))
    assert bad.returncode == 1
    assert "422" in bad.stderr and "signature" in bad.stderr and "Traceback" not in bad.stderr


def test_errors_are_readable(line: Line) -> None:
    bad_type = line.run("NORTH", *line.send(["SOUTH"], "gossip", "--body", "hello"))
    assert bad_type.returncode != 0
    assert "422" in bad_type.stderr and "type" in bad_type.stderr
    assert "Traceback" not in bad_type.stderr

    to_self = line.run("NORTH", *line.send(["NORTH"], "text", "--body", "hello me"))
    assert to_self.returncode == 1 and "to[0]" in to_self.stderr

    no_body = line.run("NORTH", *line.send(["SOUTH"], "text"))
    assert no_body.returncode == 1 and "--body" in no_body.stderr

    bad_state = line.run("NORTH", "inbox", "--state", "someday")
    assert bad_state.returncode == 1 and "state" in bad_state.stderr

    unknown = line.run("NORTH", "ack", "msg_0000000000000000")
    assert unknown.returncode == 1 and "404" in unknown.stderr
    not_an_id = line.run("NORTH", "ack", "xyz_123")
    assert not_an_id.returncode == 1 and "msg_" in not_an_id.stderr

    missing = line.run("NORTH", "status", "mec_unknown")
    assert missing.returncode == 1 and "404" in missing.stderr

    (line.cwd / "not-a-key").write_text("not base64 at all!")
    bad_key = line.run("NORTH", "register-key", "not-a-key")
    assert bad_key.returncode == 1 and "base64" in bad_key.stderr
    (line.cwd / "garbage.json").write_text("{")
    garbage = line.run("NORTH", "verify-message", "garbage.json")
    assert garbage.returncode == 1 and "not JSON" in garbage.stderr
