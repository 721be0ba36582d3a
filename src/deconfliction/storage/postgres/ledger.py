"""The PostgreSQL side of the transparency log's queries where it differs from SQLite's: leaf
indexes given and tree heads signed under the global log lock, and service keys in the order
they were added."""

from __future__ import annotations

from typing import Any

from deconfliction.storage.postgres.locks import Locking
from deconfliction.storage.sqlite.ledger import LedgerQueries
from deconfliction.storage.sqlite.rows import dicts


class PostgresLedgerQueries(Locking, LedgerQueries):
    """Mixed into the store's transaction before the SQLite queries it overrides."""

    def log_size(self) -> int:
        """Under the log lock and before this transaction's first entry, the size read with the
        lock (nobody else appends until this transaction commits); else as on SQLite."""
        if self.log_count is None and self.locks.log:
            return self.locks.log_size()
        return super().log_size()

    def log_leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """As on SQLite, knowing besides the newest leaves read with the log lock (committed by
        other processes, mostly): a receipt's walk then reads none under the lock."""
        if self.locks.log:
            self.log_lesson.leaves.update(self.locks.recent_leaves())
        return super().log_leaf_hashes(start, end)

    def append_log_entry(self, row: dict[str, Any], audience: list[str]) -> int:
        """The next entry, its index MAX(idx) + 1 taken under the log lock (gap-free, unique)."""
        self.locks.log_appends()
        return super().append_log_entry(row, audience)

    def latest_log_head(self) -> dict[str, Any] | None:
        """The newest head; in a write, which may sign the next one, read under the log lock: no
        entry is appended and no other head is signed until it commits, so whichever process
        signs, no two heads cover the same size."""
        if self.writing:
            self.locks.log_appends()
        return super().latest_log_head()

    def name_log(self, log_id: str, at: str) -> str:
        self.locks.log_appends()
        return super().name_log(log_id, at)

    def insert_log_head(self, row: dict[str, Any]) -> None:
        self.locks.log_appends()
        super().insert_log_head(row)

    def service_keys(self) -> list[dict[str, Any]]:
        """The keys the log has used, in order; in a write, read under the log lock: keys change
        only in writes that read them first (registering a log's first key, a rotation), so two
        processes doing the same at once take turns, and the second sees what the first did."""
        if self.writing:
            self.locks.log_appends()
        return dicts(
            self.db.execute(
                "SELECT key_id, public_key, activated_at, retired_at, announced_at_idx "
                "FROM service_keys ORDER BY added"
            )
        )
