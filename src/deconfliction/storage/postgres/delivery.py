"""The PostgreSQL side of webhook delivery: each outbox entry claimed by one process at a time."""

from __future__ import annotations

from typing import Any


class PostgresDeliveryQueries:
    """Mixed into the store's transaction beside the SQLite delivery queries."""

    db: Any

    def claim_deliveries(self, outbox_ids: list[int], now: float, until: float) -> set[int]:
        """Of these outbox entries, those still pending and due that no other transaction holds,
        claimed: their next attempt is put off until `until`, so every process's next look at
        the outbox passes them by, and the attempt this one records replaces it. If this
        process dies before it records one, the entry is due again at `until`.

        `SKIP LOCKED`: an entry another process is claiming at this moment is left to it rather
        than waited for; one that process has just claimed is no longer due once its claim is
        committed (READ COMMITTED reads the row again once it is locked).
        """
        if not outbox_ids:
            return set()
        rows = self.db.execute(
            "UPDATE webhook_outbox SET next_attempt_ts = ? WHERE id IN (SELECT id "
            "FROM webhook_outbox WHERE id = ANY(?) AND state = 'pending' "
            "AND next_attempt_ts <= ? FOR UPDATE SKIP LOCKED) RETURNING id",
            (until, outbox_ids, now),
        )
        return {int(row[0]) for row in rows}
