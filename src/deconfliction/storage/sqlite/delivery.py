"""The SQLite queries of webhook delivery: endpoints, the outbox and the delivery log."""

from __future__ import annotations

import sqlite3


class DeliveryQueries:
    """Mixed into the store's transaction; `db` is the transaction's connection."""

    db: sqlite3.Connection
