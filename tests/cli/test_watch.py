"""`deconfliction watch` end to end: a served database as a real process, the CLI as another.

A snapshot (`--once`) shows events and the pending inbox with countdowns, overdue in red; the live
view shows events as they arrive and, when the server goes away and comes back, reconnects with
Last-Event-ID so every event is shown exactly once, in order.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import Databases

from .servers import CLI, call_api, free_port, wait_ready

OPERATOR = "operator-token-for-the-watch-end-to-end-test-01"


@dataclass
class Line:
    """A served database, its operator, and NORTH and SOUTH, members of one mechanism."""

    env: dict[str, str]
    cwd: Path
    port: int
    url: str
    mechanism: str
    tokens: dict[str, str]
    parties: dict[str, str]
    server: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.server = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_ready(self.url, self.server)

    def stop(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGTERM)
        try:
            # With event streams open: the server must still stop promptly.
            self.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.server.kill()
            raise AssertionError("the server did not stop within 15 s of SIGTERM") from None
        self.server = None

    def api(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        token = OPERATOR if who == "operator" else self.tokens[who]
        return call_api(self.url, method, path, token, **kwargs)

    def notify(self, who: str, lon: float, lat: float = 36.0, radius: float = 5_000) -> Any:
        start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        volume = {
            "area": {"type": "Circle", "center": [lon, lat], "radius": radius},
            "altitude": {"lower": 0, "upper": 3000, "units": "m", "reference": "AMSL"},
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
        }
        body = {"kind": "air", "title": f"{who} sortie", "volumes": [volume]}
        return self.api("POST", f"/v1/mechanisms/{self.mechanism}/notifications", who, json=body)

    def watch(self, who: str, *args: str, token: str | None = None) -> subprocess.Popen[str]:
        env = {
            **self.env,
            "DECONFLICTION_URL": self.url,
            "DECONFLICTION_TOKEN": token or self.tokens[who],
            "PYTHONUNBUFFERED": "1",
        }
        return subprocess.Popen(
            [*CLI, "watch", *args],
            env=env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def once(self, who: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "watch", "--once", *args],
            env={
                **self.env,
                "DECONFLICTION_URL": self.url,
                "DECONFLICTION_TOKEN": self.tokens[who],
                **env,
            },
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def line(tmp_path: Path, databases: Databases) -> Iterator[Line]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DECONFLICTION_")}
    clean.pop("FORCE_COLOR", None)
    clean.pop("NO_COLOR", None)
    env = {
        **clean,
        **databases.new("line.db").server_env(),
        "DECONFLICTION_OPERATOR_TOKEN": OPERATOR,
        "COLUMNS": "200",
    }
    port = free_port()
    served = Line(env, tmp_path, port, f"http://127.0.0.1:{port}", "", {}, {})
    served.start()
    try:
        served.mechanism = served.api("POST", "/v1/mechanisms", "operator", json={"name": "L"})[
            "id"
        ]
        for code in ("NORTH", "SOUTH"):
            party = served.api("POST", "/v1/parties", "operator", json={"name": code, "code": code})
            served.parties[code] = party["id"]
            served.api(
                "POST",
                f"/v1/mechanisms/{served.mechanism}/members",
                "operator",
                json={"party_id": party["id"]},
            )
            token = served.api(
                "POST", f"/v1/parties/{party['id']}/tokens", "operator", json={"label": "desk"}
            )
            served.tokens[code] = token["token"]
        yield served
    finally:
        if served.server is not None:
            served.stop()


def test_once_shows_events_and_the_pending_inbox_with_countdowns(line: Line) -> None:
    line.notify("NORTH", 38.0)
    south = line.notify("SOUTH", 38.05)
    (conflict,) = south["conflicts"]
    result = line.once("NORTH", "--after", "0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "notification.created" in out and "conflict.detected" in out
    assert conflict["id"] in out and line.mechanism in out
    # The conflict is in NORTH's inbox, due within the urgent deadline: a countdown "in 9m 59s".
    row = next(r for r in out.splitlines() if f"conflict {conflict['id']}" in r)
    assert re.search(r"in \d+m \d\ds", row), row
    assert "received and read" in out

    # Resume: only what came after a given id; --limit pages, and says where to go on.
    page = line.api("GET", "/v1/events", "NORTH", params={"after": 0})
    last = page["last_event_id"]
    assert line.once("NORTH", "--after", str(last)).stdout.count("notification.created") == 0
    first_only = line.once("NORTH", "--after", "0", "--limit", "1")
    assert f"--after {page['events'][0]['id']}" in first_only.stdout


def test_overdue_items_are_shown_in_red(line: Line) -> None:
    due = datetime.now(UTC) + timedelta(seconds=2)
    line.api(
        "POST",
        f"/v1/mechanisms/{line.mechanism}/messages",
        "SOUTH",
        json={
            "to": [line.parties["NORTH"]],
            "type": "query",
            "body": "Are you receiving?",
            "ack_deadline": due.isoformat(),
        },
    )
    time.sleep(3)
    result = line.once("NORTH", "--after", "0", FORCE_COLOR="1")
    assert result.returncode == 0, result.stderr
    assert "\x1b[1;31moverdue" in result.stdout, result.stdout  # bold red


def _reader(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for text in process.stdout:
            lines.put(text.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _until(
    lines: queue.Queue[str | None], pattern: str, seen: list[str], timeout: float = 20
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        assert text is not None, "watch exited:\n" + "\n".join(seen)
        seen.append(text)
        if re.search(pattern, text):
            return text
    raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(seen))


def test_live_watch_shows_new_events_and_reconnects_without_loss_or_repeat(line: Line) -> None:
    first = line.notify("NORTH", 38.0)["id"]
    process = line.watch("NORTH", "--after", "0", "--retries", "20")
    seen: list[str] = []
    try:
        lines = _reader(process)
        _until(lines, "watching", seen)
        _until(lines, rf"notification\.created\s+{first}", seen)
        conflict = line.notify("SOUTH", 38.05)["conflicts"][0]["id"]
        _until(lines, rf"conflict\.detected\s+{conflict}", seen)

        line.stop()  # the server goes away with the stream open…
        _until(lines, r"disconnected|stream ended", seen)
        line.start()  # …and comes back; events happen before the watch has reconnected
        later = [line.notify("NORTH", 10.0 + i)["id"] for i in range(3)]
        for notification in later:
            _until(lines, rf"notification\.created\s+{notification}", seen)
        time.sleep(1)  # anything repeated would arrive now
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    while (text := lines.get()) is not None:
        seen.append(text)
    shown = [int(m.group(1)) for text in seen if (m := re.match(r"#(\d+)\s", text))]
    expected = [
        e["id"] for e in line.api("GET", "/v1/events", "NORTH", params={"after": 0})["events"]
    ]
    assert shown == expected, "\n".join(seen)  # every event once, in order, none repeated


def test_a_refused_token_or_an_unreachable_server_ends_the_watch(line: Line) -> None:
    refused = line.watch("NORTH", token="dcf_no-such-token-anywhere-0000000000000")
    assert refused.wait(timeout=30) == 1
    assert "401" in refused.stderr.read()  # type: ignore[union-attr]

    env = {**line.env, "DECONFLICTION_URL": f"http://127.0.0.1:{free_port()}"}
    env["DECONFLICTION_TOKEN"] = line.tokens["NORTH"]
    gave_up = subprocess.run(
        [*CLI, "watch", "--retries", "1"],
        env=env,
        cwd=line.cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gave_up.returncode == 1
    assert "gave up after 1 reconnection" in gave_up.stderr
