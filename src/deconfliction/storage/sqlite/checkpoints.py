"""Checkpoints of the write-ahead log, made beside the writer instead of inside its commits.

By default SQLite checkpoints inside the commit that grows the log past 1,000 pages: that commit
copies them into the database file and syncs it while it holds the writer's turn of every
process on the file, so every write queued behind it waits for the copy and the sync. Here the
writer's connection leaves that to a thread of the store: after each group's commit the writer
nudges it, and it checkpoints on a connection of its own (PASSIVE: waiting for no reader and no
writer, copying what no reader still needs) while the next group writes. Commits that come
close together share one checkpoint: it runs at most every `EVERY_S`.

Nothing about durability changes: a commit is durable once its log is synced, as before; the
checkpoint only moves committed pages into the database file. If the thread falls behind,
the writer still checkpoints itself once the log passes `WRITER_FALLBACK_PAGES`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

EVERY_S = 0.2  # the most often a checkpoint runs; commits in between share it
# The writer's own automatic checkpoint, a fallback should this thread fall far behind (pages of
# the log: 4 KiB each).
WRITER_FALLBACK_PAGES = 20_000

log = logging.getLogger(__name__)


class Checkpointer:
    """A thread that checkpoints the write-ahead log when nudged, at most every `EVERY_S`."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._nudged = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal checkpoints", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Something was committed: checkpoint soon."""
        self._nudged.set()

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        self._closing.set()
        self._nudged.set()
        self._thread.join()

    def _run(self) -> None:
        db = self._connect()
        try:
            while True:
                self._nudged.wait()
                if self._closing.wait(EVERY_S):
                    return
                self._nudged.clear()
                if self._closing.is_set():  # closed since the wait: its nudge was just cleared
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # the next nudge tries again; the writer's fallback holds
                    log.exception("checkpointing the write-ahead log failed")
        finally:
            db.close()
