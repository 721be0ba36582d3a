"""Variants timed in alternating blocks (A B C, C B A, A B C, …) on the same inputs, so that a
burst of the host's other work lands on every variant rather than on one whole run.

bench/notify.py runs each variant's worker (or server) side by side, all idle but one; each
block times the same slice of the inputs for every variant, the order reversing each time. A
variant's figures are those of its blocks put together; each pair of blocks (the same slice for
two variants) also gives a cost of its own, whose spread shows how steady the host was.
"""

from __future__ import annotations

import json
import select
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from notify_http import timed_figures

Block = dict[str, Any]  # wall_s, cpu_s, latencies (seconds) and whatever else the runner adds


def alternate(
    runners: dict[str, Callable[[int, int], Block]], total: int, block: int
) -> dict[str, list[Block]]:
    """Each runner times inputs [start, start + size) when called; the blocks, per variant."""
    labels = list(runners)
    blocks: dict[str, list[Block]] = {label: [] for label in labels}
    for i, start in enumerate(range(0, total, block)):
        size = min(block, total - start)
        for label in labels if i % 2 == 0 else labels[::-1]:
            blocks[label].append(runners[label](start, size))
    return blocks


def combined(blocks: Sequence[Block]) -> dict[str, Any]:
    """A variant's figures over all its blocks (throughput = notifies / the blocks' wall time)."""
    return {
        **timed_figures(
            sum(b["wall_s"] for b in blocks),
            sum(b["cpu_s"] for b in blocks),
            [latency for b in blocks for latency in b["latencies"]],
        ),
        "block_walls": [b["wall_s"] for b in blocks],
    }


def pair_costs(without: dict[str, Any], with_: dict[str, Any]) -> list[float]:
    """Each pair of blocks' cost: 1 − (throughput with / without) over the same inputs."""
    return [1 - a / b for a, b in zip(without["block_walls"], with_["block_walls"], strict=True)]


class BlockWorker:
    """A worker subprocess that answers one JSON line per line it is sent (bench/notify.py's
    `run` role): `ready` after its warm-up, a block's figures for `START SIZE`, a summary for `end`.
    """

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> None:
        self.timeout = timeout
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the worker's progress goes straight to our stderr
            text=True,
        )

    def answer(self) -> dict[str, Any]:
        """The worker's next JSON line, within the timeout."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.process.kill()
            raise SystemExit(
                f"the worker gave no answer (exit {self.process.wait()}; timeout "
                f"{self.timeout:.0f} s)"
            )
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.answer()

    def block(self, start: int, size: int) -> Block:
        return self.ask(f"{start} {size}")

    def end(self) -> dict[str, Any]:
        summary = self.ask("end")
        if self.process.wait(timeout=self.timeout) != 0:
            raise SystemExit(f"the worker failed (exit {self.process.returncode})")
        return summary

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
