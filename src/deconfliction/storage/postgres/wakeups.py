"""Wake-ups across processes: a transaction that stores events NOTIFYs, listeners are woken.

The notification carries nothing but the wake-up: PostgreSQL delivers it only when the
transaction commits, and the woken reader reads the events after the last id it has from the
store, which stays the one source of truth. A notification lost (the listener reconnecting, a
process restarting) only delays the events until the reader's next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from deconfliction.storage.postgres.connection import Sql

CHANNEL = "deconfliction_events"
CHECK_S = 0.5  # how often a listener waiting for notifications checks whether to stop
RETRY_S = 1.0  # how long a listener waits before connecting again after an error

log = logging.getLogger("deconfliction.events")


def announce(db: Sql) -> None:
    """Have every listener woken when this transaction commits (once per transaction is
    enough: PostgreSQL folds repeats of one notification within a transaction)."""
    db.execute(f"NOTIFY {CHANNEL}")


class Listener:
    """A thread on its own autocommit connection that calls `wake` after every commit that
    stored events, in any process on the database, until `close()`."""

    def __init__(self, url: str, wake: Callable[[], None]) -> None:
        self._url = url
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-wakeups", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    # What committed before the LISTEN took effect is read at this wake-up.
                    self._wake()
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=CHECK_S):
                            self._wake()
            except psycopg.Error:  # the reader's polling covers the gap; connect again
                log.exception("event wake-ups: the listening connection failed")
                self._stop.wait(RETRY_S)

    def close(self) -> None:
        """Stop listening; the thread ends (and closes its connection) within CHECK_S."""
        self._stop.set()
