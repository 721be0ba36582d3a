"""bench/notify.py over HTTP: a revision's real server on a copy of its prefilled store, and a
client that posts the same notifies through it, `concurrency` at a time.

The server runs in a subprocess with PYTHONPATH at the revision's `src` (`worker_serve`): the
revision's own `create_app` and uvicorn, as `deconfliction serve` runs them (access log on), over
a context whose clock is the benchmark's (so the stored notifications' times are the present).
Each party authenticates with the token the fill stored for it. The client (`drive`, in the
parent) uses one httpx.AsyncClient on uvloop; notifies/s is timed notifies / wall time, latency
is POST → 201, and the server's CPU comes from /proc.
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

    from deconfliction.api.app import create_app
    from deconfliction.config import Settings

    ctx = open_context(spec)
    app = create_app(ctx, Settings(db=f"sqlite:///{spec['db']}"))
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


def drive(
    server: Server,
    mechanism: str,
    warm: list[tuple[str, dict[str, Any]]],
    timed: list[tuple[str, dict[str, Any]]],
    concurrency: int,
) -> dict[str, Any]:
    """Warm up, then time the notifies through the server; figures like an in-process run's."""
    try:
        import uvloop

        run: Callable[[Any], Any] = uvloop.run
    except ImportError:
        run = asyncio.run
    run(_post_all(server.url, mechanism, warm, concurrency, None))
    latencies: list[float] = []
    cpu0, t0 = server.cpu_seconds() or 0.0, time.perf_counter()
    answers = run(_post_all(server.url, mechanism, timed, concurrency, latencies))
    wall, cpu = time.perf_counter() - t0, (server.cpu_seconds() or 0.0) - cpu0
    return {
        **timed_figures(wall, cpu, latencies),
        "conflicts_per_notify": sum(len(a["conflicts"]) for a in answers) / len(timed),
        "receipts": sum("receipt" in a for a in answers),
    }


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
