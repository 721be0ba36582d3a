"""Appends a write transaction makes last: actions deferred to just before its commit.

A use case's events and log entries take the line's event ids and the log's leaf indexes, which
are handed out one transaction at a time (on PostgreSQL under a lock every writer shares). Made
as the use case goes, they would hold that turn through everything after the first of them — the
conflict search, the overlaps drawn, the views. Deferred, they are written together at the end,
so the turn lasts only for the appends, the receipt and the commit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class DeferredActions:
    """Mixed into a transaction: `defer` queues an action, `flush` runs the queue in order.

    The store flushes a write transaction before committing it; a use case flushes earlier only
    to read what the queued actions write (a receipt of its own entry). An action that calls
    `flush` itself does not run the actions queued after it ahead of its own end.
    """

    def start_deferring(self) -> None:
        self.pending: deque[Callable[[], None]] = deque()
        self.flushing = False

    def defer(self, action: Callable[[], None]) -> None:
        self.pending.append(action)

    def flush(self) -> None:
        if self.flushing:
            return
        self.flushing = True
        try:
            while self.pending:
                self.pending.popleft()()
        finally:
            self.flushing = False

    def require_nothing_deferred(self) -> None:
        """For a read transaction's end: it commits nothing, so nothing may wait to be written."""
        if self.pending:
            raise RuntimeError("a read transaction was asked to write; use the store's write()")
