"""What a real server process writes to its log never holds a secret or what parties said: no
token (the operator's, a party's, a refused guess), no webhook secret, no message body, no
notification title — while the log still shows the requests it served and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from backends import Databases

from .servers import server_env, serving

OPERATOR = "operator-token-for-the-log-scan-test-0000001"
GUESS = "dcf_a-guessed-token-that-must-not-be-logged-000"
BODY = "MARKER-BODY-7f3a: convoy at grid 37S at 06:00"
TITLE = "MARKER-TITLE-91c2 hospital resupply"


def test_the_server_log_holds_no_secret_and_no_content(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with Databases(tmp_path) as databases:
        env = {
            **server_env(databases.new("logs.db"), OPERATOR),
            "DECONFLICTION_WEBHOOK_ALLOW_PRIVATE": "true",
        }
        with serving(env, tmp_path, log=log) as url:
            secrets = _exercise(url)
    written = log.read_text()
    assert '"POST /v1/mechanisms/' in written  # the access log is on: the scan reads something
    assert " 401" in written  # ... and shows the refused guess, without its token
    for secret in [OPERATOR, GUESS, *secrets]:
        assert secret not in written
    for content in (BODY, TITLE, "MARKER-"):
        assert content not in written


def _exercise(url: str) -> list[str]:
    """Use the server the way parties do; the secrets it handed out."""
    op = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=30)

    def post(client: httpx.Client, path: str, body: dict, status: int = 201) -> dict:
        response = client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()

    mechanism = post(op, "/v1/mechanisms", {"name": "log scan"})["id"]
    tokens, parties = [], []
    for code in ("NORTH", "SOUTH"):
        party = post(op, "/v1/parties", {"name": code, "code": code, "contact": code})
        post(op, f"/v1/mechanisms/{mechanism}/members", {"party_id": party["id"]})
        parties.append(party["id"])
        tokens.append(post(op, f"/v1/parties/{party['id']}/tokens", {"label": "duty"})["token"])
    north = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[0]}"})
    hook = post(north, "/v1/webhooks", {"url": "http://127.0.0.1:9/hook"})
    post(
        north,
        f"/v1/mechanisms/{mechanism}/messages",
        {"to": [parties[1]], "type": "query", "body": BODY},
    )
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    post(
        north,
        f"/v1/mechanisms/{mechanism}/notifications",
        {
            "kind": "site",
            "title": TITLE,
            "volumes": [
                {
                    "area": {"type": "Circle", "center": [37.1, 36.2], "radius": 500},
                    "altitude": {"lower": 0, "upper": 50, "units": "m", "reference": "AMSL"},
                    "start": f"{tomorrow:%Y-%m-%d}T06:00:00Z",
                    "end": f"{tomorrow:%Y-%m-%d}T09:00:00Z",
                }
            ],
        },
    )
    bad = httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {GUESS}"}, timeout=30)
    assert bad.status_code == 401
    invalid = north.post(f"/v1/mechanisms/{mechanism}/messages", json={"to": [], "body": BODY})
    assert invalid.status_code == 422
    north.close()
    op.close()
    return [*tokens, hook["secret"]]
