"""The PostgreSQL side of the line's queries where it differs from SQLite's: event ids given
under the log lock, a wake-up for every process's event stream on commit, and the mechanism lock
before the line's writes and the reads that decide them."""

from __future__ import annotations

from typing import Any

from deconfliction.storage.postgres.locks import Locking, LockOrderError
from deconfliction.storage.postgres.wakeups import announce
from deconfliction.storage.sqlite.line import LineQueries


class PostgresLineQueries(Locking, LineQueries):
    """Mixed into the store's transaction before the SQLite queries it overrides."""

    announced: bool  # whether this transaction has asked for a wake-up on commit
    last_event: int | None  # the newest event id, once read under the log lock

    def insert_event(self, row: dict[str, Any]) -> int:
        """Store the event; its id is the next one, given under the log lock, so ids are
        gap-free and committed in increasing order. Every process's event stream is woken
        when the transaction commits."""
        self.lock_mechanism(row["mechanism_id"])
        self.locks.log_appends()
        if self.last_event is None:  # read with the log lock, then counted
            self.last_event = self.locks.newest_event()
        event_id = self.last_event + 1
        self.db.execute(
            "INSERT INTO events (id, mechanism_id, type, subject_id, audience_json, "
            "payload_json, created_at, token_id) VALUES (:id, :mechanism_id, :type, :subject_id, "
            ":audience_json, :payload_json, :created_at, :token_id)",
            {**row, "id": event_id},
        )
        self.last_event = event_id
        if not self.announced:
            announce(self.db)
            self.announced = True
        return event_id

    def due_inbox_items(
        self, now: float, limit: int, mechanism_id: str | None = None
    ) -> list[dict[str, Any]]:
        """What is due; in a write, in one mechanism, read once its lock is held."""
        if self.writing:
            if mechanism_id is None:
                raise LockOrderError("a write reads what is due one mechanism at a time")
            self.lock_mechanism(mechanism_id)
        return super().due_inbox_items(now, limit, mechanism_id)

    # The mechanism lock before the line's writes and the reads that decide them.

    def message(self, message_id: str) -> dict[str, Any] | None:
        return self.locked_row("messages", message_id)

    def insert_message(self, row: dict[str, Any]) -> None:
        self.lock_mechanism(row["mechanism_id"])
        super().insert_message(row)

    def inbox_item(self, party_id: str, subject_id: str) -> dict[str, Any] | None:
        item = super().inbox_item(party_id, subject_id)
        if item is not None and self.lock_mechanism(item["mechanism_id"]):
            item = super().inbox_item(party_id, subject_id)
        return item

    def upsert_inbox_item(self, row: dict[str, Any]) -> None:
        self.lock_mechanism(row["mechanism_id"])
        super().upsert_inbox_item(row)

    def set_escalation_contact(self, row: dict[str, Any]) -> None:
        self.lock_mechanism(row["mechanism_id"])
        super().set_escalation_contact(row)

    def raise_silence_alarm(self, mechanism_id: str, party_id: str, at: str) -> None:
        self.lock_mechanism(mechanism_id)
        super().raise_silence_alarm(mechanism_id, party_id, at)

    def clear_silence_alarm(self, mechanism_id: str, party_id: str) -> None:
        self.lock_mechanism(mechanism_id)
        super().clear_silence_alarm(mechanism_id, party_id)
