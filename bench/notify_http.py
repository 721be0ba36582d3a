"""bench/notify.py over HTTP: a revision's real server on a copy of its prefilled store, and a
client that posts the same notifies through it, `concurrency` at a time.

The server runs in a subprocess with PYTHONPATH at the revision's `src` (`worker_serve`): the
revision's own app (`serving_app`, else `create_app`) and uvicorn, as `deconfliction serve` runs
them (access log on), over a context whose clock is the benchmark's (so the stored
notifications' times are the present). Each party authenticates with the token the fill stored
for it. The client (`drive`, in the parent) posts a block of notifies with one
httpx.AsyncClient on uvloop; a block's figures are its wall time, its POST → 201 latencies and
the server's CPU over it (from /proc).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
from server_process import HOST, Server


def worker_serve(spec: dict[str, Any], open_context: Callable[[dict[str, Any]], Any]) -> None:
    """Serve the revision's API over the prefilled copy until SIGINT (in the worker process)."""
    import uvicorn

    from deconfliction.api import app as api
    from deconfliction.config import Settings

    ctx = open_context(spec)
    # As `deconfliction serve` builds it; revisions older than `serving_app` had `create_app`.
    build = getattr(api, "serving_app", api.create_app)
    app = build(ctx, Settings(db=f"sqlite:///{spec['db']}"))
    uvicorn.run(app, host=HOST, port=spec["port"], log_level="info")


async def _post_all(
    url: str,
    mechanism: str,
    bodies: list[tuple[str, dict[str, Any]]],
    concurrency: int,
    latencies: list[float] | None,
) -> list[dict[str, Any]]:
    """POST every body as its party, `concurrency` at a time; the 201 answers in order."""
    answers: list[dict[str, Any]] = [{} for _ in bodies]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def sender() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                party, body = bodies[i]
                started = time.perf_counter()
                response = await client.post(
                    f"/v1/mechanisms/{mechanism}/notifications",
                    json=body,
                    headers={"Authorization": f"Bearer {party}"},
                )
                if latencies is not None:
                    latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise SystemExit(f"notify answered {response.status_code}: {response.text}")
                answers[i] = response.json()

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return answers


def _run(coroutine: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coroutine)
    except ImportError:
        return asyncio.run(coroutine)


def post(
    server: Server,
    mechanism: str,
    bodies: list[tuple[str, dict[str, Any]]],
    concurrency: int,
    latencies: list[float] | None = None,
) -> list[dict[str, Any]]:
    """POST the notifies to the server, `concurrency` in flight; the 201 answers in order."""
    answers: list[dict[str, Any]] = _run(
        _post_all(server.url, mechanism, bodies, concurrency, latencies)
    )
    return answers


def block_runner(
    server: Server,
    mechanism: str,
    timed: list[tuple[str, dict[str, Any]]],
    concurrency: int,
) -> Callable[[int, int], dict[str, Any]]:
    """Times the notifies [start, start + size) through the server when called: wall time,
    the server's CPU, each POST → 201 latency, and the answers' conflicts and receipts."""

    def block(start: int, size: int) -> dict[str, Any]:
        latencies: list[float] = []
        cpu0, t0 = server.cpu_seconds() or 0.0, time.perf_counter()
        answers = post(server, mechanism, timed[start : start + size], concurrency, latencies)
        wall, cpu = time.perf_counter() - t0, (server.cpu_seconds() or 0.0) - cpu0
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "latencies": latencies,
            "conflicts": sum(len(a["conflicts"]) for a in answers),
            "receipts": sum("receipt" in a for a in answers),
        }

    return block


def timed_figures(wall_s: float, cpu_s: float, latencies: list[float]) -> dict[str, float]:
    """Throughput and latency of a timed run of notifies (latencies in seconds, one a notify),
    as both ways of measuring report them."""
    ms = np.array(latencies) * 1e3
    return {
        "notifies": len(latencies),
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "per_s": len(latencies) / wall_s,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
    }
