"""Work the server does on its own: the deadline scheduler, webhook delivery, and signing tree
heads of the transparency log while it grows.

Each worker is a blocking step run again and again on a worker thread until the server stops;
what it must remember lives in the database, so a restart forgets nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio.to_thread
from fastapi import FastAPI

log = logging.getLogger("deconfliction.background")


@dataclass(frozen=True)
class Worker:
    """A named step and how long to wait after a step that found nothing more to do (a step
    returns True when it has more to do at once)."""

    name: str
    step: Callable[[], bool | None]
    idle_s: float


async def _run(worker: Worker, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            busy = bool(await asyncio.to_thread(worker.step))
        except Exception:  # a failed step is logged and tried again; the server keeps serving
            log.exception("%s step failed", worker.name)
            busy = False
        if busy:
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=worker.idle_s)
        except TimeoutError:
            pass


def lifespan(
    workers: list[Worker], request_threads: int
) -> Callable[[FastAPI], AsyncIterator[None]]:
    """A lifespan that runs the workers while the server is up and stops them with it.

    It also sets how many threads serve the blocking part of requests (the deployment's
    setting, else the store's `request_threads`). Their work holds the GIL or waits for a
    writer, so more than those only add contention: with 40 (AnyIO's default) the line's
    fan-out p99 was ~2× that with 4 (docs/benchmarks.md).
    """

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = request_threads
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_run(w, stop), name=w.name) for w in workers]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    return run  # type: ignore[return-value]
