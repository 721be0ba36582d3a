"""Running the CLI and a real `deconfliction serve` process in CLI tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from backends import Database

CLI = [sys.executable, "-m", "deconfliction.cli"]
READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    """Until the server answers /readyz; fails with its output if it exits first."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"server exited: {output}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not become ready in {READY_TIMEOUT_S:g} s")


def server_env(database: Database, operator: str, columns: int = 200) -> dict[str, str]:
    """This process's environment without DECONFLICTION_* settings, plus the database (and its
    key file where it needs one), a known operator token and a terminal wide enough for Rich's
    tables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DECONFLICTION_")}
    return {
        **clean,
        **database.server_env(),
        "DECONFLICTION_OPERATOR_TOKEN": operator,
        "COLUMNS": str(columns),
    }


@contextmanager
def serving(env: dict[str, str], cwd: Path, log: Path | None = None) -> Iterator[str]:
    """A real `deconfliction serve` on a free port until the block ends; its base URL. With
    `log`, everything the server writes (stdout and stderr) goes to that file."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log or os.devnull, "w") as output:
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
            text=True,
        )
        try:
            wait_ready(url, server)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)
            if server.stderr:
                server.stderr.close()


def call_api(base_url: str, method: str, path: str, token: str, **kwargs: Any) -> Any:
    """One request to a served API as the token's holder, on a new connection; its JSON, after
    checking it succeeded. Accept: JSON, without which GET /v1/events is the endless stream."""
    response = httpx.request(
        method,
        base_url + path,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=30,
        **kwargs,
    )
    assert response.is_success, response.text
    return response.json()
