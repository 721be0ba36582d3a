"""The crash harness's server (bench/crash.py): the database it runs on, its life and deaths
(started, killed with SIGKILL, started again on the same database), and the parties, mechanisms
and webhooks set up over its API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from crash_receiver import WebhookReceiver
from server_process import HOST, Server, free_port, start

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "deconfliction.cli"]
OPERATOR = "operator-token-of-the-crash-harness-0000000000001"
PARTY_CODES = ("NORTH", "SOUTH", "AID")
REQUEST_TIMEOUT = httpx.Timeout(60.0)
LIST_LIMIT = 1_000


# ---------------------------------------------------------------- the database


@dataclass
class Target:
    """The database the server runs on, and how to drop it (PostgreSQL) when done."""

    url: str
    env: dict[str, str]
    admin_url: str | None = None
    name: str | None = None

    def drop(self) -> None:
        if self.admin_url is not None:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as db:
                db.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def make_target(db: str, directory: Path) -> Target:
    """A fresh SQLite file in `directory`, or a fresh database on the PostgreSQL server `db`."""
    if db == "sqlite":
        return Target(f"sqlite:///{directory / 'crash.db'}", {})
    if not db.startswith(("postgresql://", "postgres://")):
        raise SystemExit(f"--db must be sqlite or a postgresql:// URL, not {db}")
    import psycopg

    name = f"crash_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE 'C.UTF-8'")
    url = urlsplit(db)._replace(path=f"/{name}").geturl()
    key = directory / "crash.signing-key"
    return Target(url, {"DECONFLICTION_SIGNING_KEY_FILE": str(key)}, db, name)


def server_env(target: Target) -> dict[str, str]:
    """This process's environment without DECONFLICTION_* settings, plus the harness's own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DECONFLICTION_")}
    return {
        **clean,
        **target.env,
        "DECONFLICTION_DB": target.url,
        "DECONFLICTION_OPERATOR_TOKEN": OPERATOR,
        "DECONFLICTION_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
        "DECONFLICTION_WEBHOOK_RETRY_BASE_S": "0.2",
        "DECONFLICTION_WEBHOOK_RETRY_MAX_S": "2",
        "DECONFLICTION_SCHEDULER_INTERVAL_S": "1",
        "DECONFLICTION_RATE_LIMIT_PER_S": "100000",
        "DECONFLICTION_RATE_LIMIT_BURST": "1000000",
        "COLUMNS": "120",
        "PYTHONUNBUFFERED": "1",  # its log up to the moment it is killed
    }


# ---------------------------------------------------------------- the server's life and deaths


class Crasher:
    """The server process: started, killed with SIGKILL, started again on the same database."""

    def __init__(self, target: Target, directory: Path) -> None:
        self.env = server_env(target)
        self.directory = directory
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.server: Server | None = None
        self.generation = 0  # one more after each kill: clients drop their connections
        self.ready_s: list[float] = []
        self.startup_kills = 0

    def _command(self) -> list[str]:
        return [*CLI, "serve", "--port", str(self.port)]

    def _log(self, what: str) -> Path:
        return self.directory / f"server-{self.generation:03d}-{what}.log"

    def start(self) -> None:
        """Start the server; returns once it answers /readyz (SystemExit if it cannot)."""
        began = time.monotonic()
        self.server = start(self._command(), self.env, ROOT, self.port, self._log("run"))
        self.ready_s.append(time.monotonic() - began)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        assert self.server is not None
        self.server.process.kill()
        self.server.process.wait(timeout=30)
        self.server = None
        self.generation += 1

    def kill_while_starting(self, delay_s: float) -> None:
        """Start the server and SIGKILL it `delay_s` later, ready or not."""
        with self._log("killed-starting").open("wb") as output:
            process = subprocess.Popen(
                self._command(), env=self.env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            process.wait(timeout=delay_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
            self.startup_kills += 1
        else:
            raise SystemExit(
                f"the server exited while starting: see {self._log('killed-starting')}"
            )
        self.generation += 1

    def stop(self) -> None:
        """A graceful stop (SIGINT), for the end."""
        if self.server is not None:
            self.server.stop()
            self.server = None


# ---------------------------------------------------------------- setting up, over the API


@dataclass(frozen=True)
class Party:
    code: str
    id: str
    token: str


def api_client(url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=REQUEST_TIMEOUT
    )


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(path, json=body)
    if response.status_code != 201:
        raise SystemExit(f"POST {path}: HTTP {response.status_code} {response.text[:500]}")
    return response.json()


async def build_world(url: str, mechanisms: int) -> tuple[list[Party], list[str]]:
    """Three parties, members of every mechanism, each with a token (as the operator)."""
    async with api_client(url, OPERATOR) as op:
        parties = []
        for code in PARTY_CODES:
            party = await _created(
                op, "/v1/parties", {"name": f"party {code}", "code": code, "contact": code}
            )
            token = await _created(op, f"/v1/parties/{party['id']}/tokens", {"label": "crash"})
            parties.append(Party(code, party["id"], token["token"]))
        made = []
        for number in range(mechanisms):
            mechanism = await _created(op, "/v1/mechanisms", {"name": f"crash line {number}"})
            for party in parties:
                body = {"party_id": party.id}
                await _created(op, f"/v1/mechanisms/{mechanism['id']}/members", body)
            made.append(mechanism["id"])
    return parties, made


async def register_webhooks(
    url: str, parties: list[Party], receiver: WebhookReceiver
) -> dict[str, int]:
    """A webhook per party to the receiver; per party, its last event id before it."""
    cursors = {}
    for party in parties:
        async with api_client(url, party.token) as client:
            hook = await _created(client, "/v1/webhooks", {"url": receiver.url(party.code)})
            receiver.set_secret(party.code, hook["secret"])
            events = await read_events(client)
        cursors[party.id] = events[-1]["id"] if events else 0
    return cursors


async def read_events(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The caller's whole stored event stream, from the start, as JSON pages."""
    events: list[dict[str, Any]] = []
    after = 0
    for _ in range(100_000):
        response = await client.get(
            "/v1/events",
            params={"after": after, "limit": LIST_LIMIT},
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        page = response.json()
        events += page["events"]
        if len(page["events"]) < LIST_LIMIT:
            return events
        after = page["last_event_id"]
    raise SystemExit("more than 10⁸ events")
