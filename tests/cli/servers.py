"""Running the CLI and a real `deconfliction serve` process in CLI tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

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
