"""A benchmark's server: a subprocess on 127.0.0.1 that is ready once it answers /readyz, with
its CPU time read from /proc and a graceful stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"
READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # uvicorn: graceful shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def cpu_seconds(self) -> float | None:
        """User + system CPU so far of the server process and the processes it started that
        are still running (`serve --workers N`'s workers) — Linux /proc, None elsewhere."""
        try:
            ticks = _cpu_ticks(self.process.pid)
            for child in _descendants(self.process.pid):
                with suppress(FileNotFoundError):  # a child that ended meanwhile
                    ticks += _cpu_ticks(child)
        except OSError:
            return None
        return ticks / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        with suppress(FileNotFoundError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = [int(child) for child in (task / "children").read_text().split()]
                found += children
                queue += children
    return found


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def start(command: list[str], env: dict[str, str], cwd: Path, port: int, log_path: Path) -> Server:
    """Start the server's command (its output to `log_path`); returns once it is ready."""
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://{HOST}:{port}", log_path)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"the server was not ready in {READY_TIMEOUT_S:.0f} s")
