"""The SQLite queries of webhook delivery: endpoints, the outbox and the delivery log."""

from __future__ import annotations

import sqlite3
from typing import Any

from deconfliction.storage.sqlite.rows import dicts, marks, one


class DeliveryQueries:
    """Mixed into the store's transaction; `db` is the transaction's connection."""

    db: sqlite3.Connection

    # Endpoints.

    def insert_webhook(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO webhooks (id, party_id, url, secret, purpose, created_at) "
            "VALUES (:id, :party_id, :url, :secret, :purpose, :created_at)",
            row,
        )

    def webhook(self, webhook_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM webhooks WHERE id = ?", (webhook_id,)))

    def webhooks(self, party_id: str | None) -> list[dict[str, Any]]:
        """Live endpoints of a party (of every party for None), oldest first."""
        if party_id is None:
            cursor = self.db.execute(
                "SELECT * FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id"
            )
        else:
            cursor = self.db.execute(
                "SELECT * FROM webhooks WHERE party_id = ? AND deleted_at IS NULL "
                "ORDER BY created_at, id",
                (party_id,),
            )
        return dicts(cursor)

    def count_webhooks(self, party_id: str) -> int:
        return int(
            self.db.execute(
                "SELECT count(*) FROM webhooks WHERE party_id = ? AND deleted_at IS NULL",
                (party_id,),
            ).fetchone()[0]
        )

    def pending_deliveries(self, webhook_ids: list[str]) -> dict[str, int]:
        """How many events wait to be sent, per endpoint (endpoints with none are left out)."""
        if not webhook_ids:
            return {}
        return {
            row[0]: int(row[1])
            for row in self.db.execute(
                "SELECT webhook_id, count(*) FROM webhook_outbox WHERE state = 'pending' "
                f"AND webhook_id IN ({marks(webhook_ids)}) GROUP BY webhook_id",
                webhook_ids,
            )
        }

    def delete_webhook(self, webhook_id: str, at: str) -> None:
        self.db.execute(
            "UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
            (at, webhook_id),
        )

    def fail_pending_deliveries(self, webhook_id: str, reason: str) -> int:
        cursor = self.db.execute(
            "UPDATE webhook_outbox SET state = 'failed', last_error = ? "
            "WHERE webhook_id = ? AND state = 'pending'",
            (reason, webhook_id),
        )
        return cursor.rowcount

    # The outbox.

    def due_deliveries(self, now: float, limit: int) -> list[dict[str, Any]]:
        """The oldest pending entry of each endpoint, if it is due, with its event and endpoint.

        Only the oldest: an endpoint's later events wait until it is delivered or given up.
        """
        return dicts(
            self.db.execute(
                "SELECT o.id AS outbox_id, o.webhook_id, o.event_id, o.attempts, "
                "o.next_attempt_ts, w.party_id, w.url, w.secret, w.deleted_at, e.type, "
                "e.mechanism_id, e.subject_id, e.created_at, e.payload_json "
                "FROM webhooks w "
                "JOIN webhook_outbox o ON o.id = (SELECT id FROM webhook_outbox "
                "WHERE webhook_id = w.id AND state = 'pending' ORDER BY id LIMIT 1) "
                "JOIN events e ON e.id = o.event_id "
                "WHERE o.next_attempt_ts <= ? ORDER BY o.next_attempt_ts, o.id LIMIT ?",
                (now, limit),
            )
        )

    def claim_deliveries(self, outbox_ids: list[int], now: float, until: float) -> set[int]:
        """Of these outbox entries, those still pending and due, claimed: their next attempt is
        put off until `until`, so every process's next look at the outbox passes them by, and
        the attempt this one records replaces it. If this process dies before it records one,
        the entry is due again at `until`. Several processes on one file claim one at a time:
        SQLite runs one write transaction at a time."""
        if not outbox_ids:
            return set()
        marks = ", ".join("?" * len(outbox_ids))
        rows = self.db.execute(
            f"UPDATE webhook_outbox SET next_attempt_ts = ? WHERE id IN ({marks}) "
            "AND state = 'pending' AND next_attempt_ts <= ? RETURNING id",
            (until, *outbox_ids, now),
        )
        return {int(row[0]) for row in rows}

    def extend_claims(self, claims: list[tuple[int, int]], until: float) -> None:
        """Put off the next attempt of these (outbox id, attempts so far) entries until `until`:
        the claims of sends still running. An entry with an attempt recorded since has another
        count of attempts, or is no longer pending, and is left alone."""
        self.db.executemany(
            "UPDATE webhook_outbox SET next_attempt_ts = ? "
            "WHERE id = ? AND attempts = ? AND state = 'pending'",
            [(until, outbox_id, attempts) for outbox_id, attempts in claims],
        )

    def first_attempt_at(self, webhook_id: str, outbox_id: int, attempts: int) -> str | None:
        """When an entry with `attempts` recorded attempts was first tried.

        Its attempts are the endpoint's newest (entries go one at a time), so walking the
        endpoint's index back from the newest reaches the first after `attempts` rows.
        """
        if attempts < 1:
            return None
        row = self.db.execute(
            "SELECT attempted_at FROM webhook_attempts WHERE webhook_id = ? AND outbox_id = ? "
            "ORDER BY id DESC LIMIT 1 OFFSET ?",
            (webhook_id, outbox_id, attempts - 1),
        ).fetchone()
        return None if row is None else str(row[0])

    def record_attempt(
        self, attempt: dict[str, Any], *, state: str, next_attempt_ts: float, at: str
    ) -> None:
        """Log an attempt and move its outbox entry and endpoint on (`state` after it)."""
        self.db.execute(
            "INSERT INTO webhook_attempts (outbox_id, webhook_id, event_id, attempted_at, "
            "status, error, duration_ms) VALUES (:outbox_id, :webhook_id, :event_id, "
            ":attempted_at, :status, :error, :duration_ms)",
            attempt,
        )
        delivered = state == "delivered"
        # A deleted endpoint's entries are already failed; the attempt is logged all the same.
        self.db.execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1, state = ?, next_attempt_ts = ?, "
            "last_status = ?, last_error = ?, delivered_at = ? WHERE id = ? AND state = 'pending'",
            (
                state,
                next_attempt_ts,
                attempt["status"],
                attempt["error"],
                at if delivered else None,
                attempt["outbox_id"],
            ),
        )
        if delivered:
            self.db.execute(
                "UPDATE webhooks SET last_success_at = ? WHERE id = ?", (at, attempt["webhook_id"])
            )
        else:
            self.db.execute(
                "UPDATE webhooks SET last_failure_at = ?, last_error = ? WHERE id = ?",
                (at, attempt["error"], attempt["webhook_id"]),
            )

    # The delivery log.

    def delivery_attempts(self, webhook_id: str, limit: int) -> list[dict[str, Any]]:
        """An endpoint's attempts, newest first."""
        return dicts(
            self.db.execute(
                "SELECT event_id, attempted_at, status, error, duration_ms FROM webhook_attempts "
                "WHERE webhook_id = ? ORDER BY id DESC LIMIT ?",
                (webhook_id, limit),
            )
        )

    def deliveries(self, webhook_id: str, limit: int) -> list[dict[str, Any]]:
        """An endpoint's outbox entries with their event's type and subject, newest first."""
        return dicts(
            self.db.execute(
                "SELECT o.event_id, e.type, e.subject_id, o.state, o.attempts, "
                "o.next_attempt_ts, o.created_at, o.delivered_at, o.last_status, o.last_error "
                "FROM webhook_outbox o JOIN events e ON e.id = o.event_id "
                "WHERE o.webhook_id = ? ORDER BY o.event_id DESC LIMIT ?",
                (webhook_id, limit),
            )
        )
