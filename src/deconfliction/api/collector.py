"""Python's garbage collector in a process that serves the API.

A serving process holds ~100,000 objects from its start (modules, FastAPI's routes, Pydantic's
models, Shapely's NumPy) that live as long as it does. Left in the collector's oldest
generation, each full collection walks them all: ~70 ms on a 2-core host, during which no
request thread runs — and on a SQLite file, none of the other processes' writers either if the
paused one holds the writer's turn. Under load that came every ~2.5 s. Frozen once at the start,
they are left out of every collection, and a full one walks the ~15,000 objects made since.

The young generation is collected every 7,000 allocations instead of CPython's 700: the request
threads (16 a process on SQLite) keep many objects briefly alive at once, so a collection every
700 found most of them still in use, walked them and promoted them, to be walked again by the
older generations. Measured (docs/reliability.md): the collector's time in a 30 s phase of the
load benchmark's mix, 1.3–1.9 s before, none during it after.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 7_000  # allocations less deallocations between young collections


def settle_for_serving() -> None:
    """Freeze everything the process holds now and collect the young generation less often.

    Call it once, when the app is built and the process will do nothing but serve it (not in a
    process that builds app after app, like the tests': each freeze keeps what it froze).
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, oldest)
