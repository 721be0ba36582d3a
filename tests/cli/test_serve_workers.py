"""`deconfliction serve --workers N`: N real worker processes behind one address over one
database — a write and the reads after it on new connections (each going to whichever worker the
kernel hands it) all answered, a worker that dies replaced, and stopping the command stops them
all. (What several processes on one database must get right — conflicts recorded once,
streams, webhooks and reminders sent once, the log — is tests/storage/test_multiprocess.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from backends import Databases

from .servers import CLI, call_api, free_port, server_env, wait_ready

OPERATOR = "operator-token-for-the-workers-test-000001"
WAIT_S = 30.0


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str

    def workers(self) -> set[int]:
        """The pids of the worker processes (not multiprocessing's resource tracker); a child
        reaped while this looks is left out."""
        children = set()
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            children.update(int(pid) for pid in (task / "children").read_text().split())
        workers = set()
        for pid in children:
            with suppress(FileNotFoundError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    workers.add(pid)
        return workers

    def call(self, method: str, path: str, token: str = OPERATOR, **kwargs: Any) -> Any:
        # A new connection each time: the kernel hands each to one of the workers.
        return call_api(self.url, method, path, token, **kwargs)


def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S:g} s: {what}"
        time.sleep(0.1)


@pytest.fixture
def served(databases: Databases, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = server_env(databases.new(), OPERATOR)
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield Served(process, f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_two_workers_serve_one_address_and_one_that_dies_is_replaced(served: Served) -> None:
    until(lambda: len(served.workers()) == 2, "two workers started")
    mechanism = served.call("POST", "/v1/mechanisms", json={"name": "Two workers"})["id"]
    parties, tokens = [], []
    for code in ("NORTH", "SOUTH"):
        party = served.call("POST", "/v1/parties", json={"name": code, "code": code})["id"]
        served.call("POST", f"/v1/mechanisms/{mechanism}/members", json={"party_id": party})
        tokens.append(
            served.call("POST", f"/v1/parties/{party}/tokens", json={"label": "desk"})["token"]
        )
        parties.append(party)
    sent = served.call(
        "POST",
        f"/v1/mechanisms/{mechanism}/messages",
        tokens[0],
        json={"to": [parties[1]], "type": "notice", "body": "written through one worker"},
    )
    token = tokens[1]
    # Whichever worker answers, each of many new connections sees what the other wrote.
    for _ in range(20):
        page = served.call("GET", "/v1/events", token, params={"after": 0})
        assert sent["id"] in {event["subject_id"] for event in page["events"]}

    first = served.workers()
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    until(lambda: len(served.workers()) == 2 and victim not in served.workers(), "replaced")
    assert served.call("GET", f"/v1/messages/{sent['id']}", token)["id"] == sent["id"]

    workers = served.workers()
    served.process.terminate()
    served.process.wait(timeout=60)
    for pid in workers:
        until(lambda pid=pid: not Path(f"/proc/{pid}").exists(), f"worker {pid} stopped")


@pytest.mark.parametrize("workers", ["0", "33", "two"])
def test_a_bad_number_of_workers_is_refused_naming_the_option(workers: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "serve", "--workers", workers],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers" in result.stderr
    assert not list(tmp_path.iterdir())  # refused before anything was created
