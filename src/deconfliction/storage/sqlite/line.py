"""The SQLite queries of the line: events and their audiences, messages, the inbox, escalation
contacts, message keys, last contact and silence alarms."""

from __future__ import annotations

import sqlite3
from typing import Any

from deconfliction.storage.sqlite.rows import dicts, marks, one

# `trail_json` with one more (compact JSON) entry: text both databases can append to.
APPEND_TRAIL = (
    "CASE WHEN trail_json = '[]' THEN '[' || ? || ']' "
    "ELSE substr(trail_json, 1, length(trail_json) - 1) || ',' || ? || ']' END"
)


class LineQueries:
    """Mixed into the store's transaction; `db` is the transaction's connection."""

    db: sqlite3.Connection

    # Events.

    def append_event(self, row: dict[str, Any], audience: list[str], webhooks: list[str]) -> int:
        """Store an event, who may see it, and one outbox entry per webhook that must carry it.

        A token-addressed event goes only to the webhooks named; any other event also to every
        live `events` webhook of its audience.
        """
        event_id = self.insert_event(row)
        self.db.executemany(
            "INSERT INTO event_audience (party_id, event_id) VALUES (?, ?)",
            [(party, event_id) for party in audience],
        )
        # One statement that reads nothing back: on PostgreSQL it is pipelined under the log
        # lock instead of waiting there for the audience's webhooks.
        conditions: list[str] = []
        params: list[Any] = [event_id, row["created_at"]]
        if webhooks:
            conditions.append(f"id IN ({marks(webhooks)})")
            params.extend(webhooks)
        if row["token_id"] is None and audience:
            conditions.append(
                f"(deleted_at IS NULL AND purpose = 'events' AND party_id IN ({marks(audience)}))"
            )
            params.extend(audience)
        if conditions:
            self.db.execute(
                "INSERT INTO webhook_outbox (webhook_id, event_id, state, next_attempt_ts, "
                "created_at) SELECT id, ?, 'pending', 0, ? FROM webhooks "
                f"WHERE {' OR '.join(conditions)} ORDER BY id",
                params,
            )
        return event_id

    def insert_event(self, row: dict[str, Any]) -> int:
        """Store the event itself; its id, one more than any before (AUTOINCREMENT)."""
        cursor = self.db.execute(
            "INSERT INTO events (mechanism_id, type, subject_id, audience_json, payload_json, "
            "created_at, token_id) VALUES (:mechanism_id, :type, :subject_id, :audience_json, "
            ":payload_json, :created_at, :token_id)",
            row,
        )
        return int(cursor.lastrowid or 0)

    def events_after(
        self, party_id: str | None, token_id: str, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """Events after an id that a party's token may see (every event for the operator)."""
        if party_id is None:
            return dicts(
                self.db.execute(
                    "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
                )
            )
        return dicts(
            self.db.execute(
                "SELECT e.* FROM event_audience a JOIN events e ON e.id = a.event_id "
                "WHERE a.party_id = ? AND a.event_id > ? "
                "AND (e.token_id IS NULL OR e.token_id = ?) ORDER BY a.event_id LIMIT ?",
                (party_id, after, token_id, limit),
            )
        )

    def revoked_among(self, token_ids: list[str]) -> set[str]:
        """Those of the tokens that are revoked or do not exist."""
        if not token_ids:
            return set()
        live = {
            row[0]
            for row in self.db.execute(
                f"SELECT id FROM tokens WHERE revoked_at IS NULL AND id IN ({marks(token_ids)})",
                token_ids,
            )
        }
        return set(token_ids) - live

    def last_event_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    # Messages.

    def insert_message(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO messages (id, mechanism_id, sender_party, sender_token, type, priority, "
            "body, refs_json, attachment_json, recipients_json, in_reply_to, thread_id, "
            "signature, signed_json, created_at) VALUES (:id, :mechanism_id, :sender_party, "
            ":sender_token, :type, :priority, :body, :refs_json, :attachment_json, "
            ":recipients_json, :in_reply_to, :thread_id, :signature, :signed_json, :created_at)",
            row,
        )

    def message(self, message_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)))

    def messages(
        self,
        *,
        party: str | None,
        folder: str,
        mechanism_id: str | None,
        thread_id: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Newest first. `folder`: inbox (addressed to the party), sent (sent by it), or all."""
        where, args = [], []
        if party is not None:
            received = (
                "id IN (SELECT subject_id FROM inbox WHERE party_id = ? "
                "AND subject_type = 'message')"
            )
            sent = "sender_party = ?"
            clause = {"inbox": received, "sent": sent, "all": f"({received} OR {sent})"}[folder]
            where.append(clause)
            args.extend([party] * clause.count("?"))
        if mechanism_id is not None:
            where.append("mechanism_id = ?")
            args.append(mechanism_id)
        if thread_id is not None:
            where.append("thread_id = ?")
            args.append(thread_id)
        sql = "SELECT * FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id LIMIT ?"
        return dicts(self.db.execute(sql, (*args, limit)))

    # The inbox: what a party must acknowledge, and by when.

    def inbox_item(self, party_id: str, subject_id: str) -> dict[str, Any] | None:
        return one(
            self.db.execute(
                "SELECT * FROM inbox WHERE party_id = ? AND subject_id = ?", (party_id, subject_id)
            )
        )

    def upsert_inbox_item(self, row: dict[str, Any]) -> None:
        """A new item, or a new version of one: its deadline and escalation start again."""
        self.db.execute(
            "INSERT INTO inbox (mechanism_id, party_id, subject_type, subject_id, version, "
            "sender_party, created_at, deadline_at, deadline_ts, due_ts, trail_json) VALUES "
            "(:mechanism_id, :party_id, :subject_type, :subject_id, :version, :sender_party, "
            ":created_at, :deadline_at, :deadline_ts, :deadline_ts, '[]') "
            "ON CONFLICT (party_id, subject_type, subject_id) DO UPDATE SET "
            "version = excluded.version, deadline_at = excluded.deadline_at, "
            "deadline_ts = excluded.deadline_ts, due_ts = excluded.deadline_ts, "
            "acknowledged_at = NULL, acknowledged_by = NULL, reminded_at = NULL, "
            "escalated_at = NULL, closed_at = NULL, delivered_at = NULL, delivered_via = NULL",
            row,
        )

    def settle_inbox_item(
        self, party_id: str, subject_id: str, version: int, token_id: str, at: str
    ) -> None:
        """The party acknowledged this version (or a later one): nothing more is due."""
        self.db.execute(
            "UPDATE inbox SET acknowledged_at = ?, acknowledged_by = ?, due_ts = NULL, "
            "delivered_at = coalesce(delivered_at, ?), "
            "delivered_via = coalesce(delivered_via, 'acknowledged') "
            "WHERE party_id = ? AND subject_id = ? AND version <= ? AND acknowledged_at IS NULL",
            (at, token_id, at, party_id, subject_id, version),
        )

    def close_inbox_items(self, subject_id: str, at: str, trail_entry: str) -> None:
        """Nothing more is due on a subject (a conflict resolved, a notification cancelled)."""
        self.db.execute(
            f"UPDATE inbox SET due_ts = NULL, closed_at = ?, trail_json = {APPEND_TRAIL} "
            "WHERE subject_id = ? AND acknowledged_at IS NULL AND closed_at IS NULL",
            (at, trail_entry, trail_entry, subject_id),
        )

    def mark_delivered(
        self, party_id: str, subject_ids: list[str], via: str, at: str
    ) -> list[dict[str, Any]]:
        """Mark the first delivery; the inbox items this marked (not those delivered before)."""
        if not subject_ids:
            return []
        return dicts(
            self.db.execute(
                "UPDATE inbox SET delivered_at = ?, delivered_via = ? WHERE party_id = ? "
                f"AND subject_id IN ({marks(subject_ids)}) AND delivered_at IS NULL "
                "RETURNING mechanism_id, party_id, subject_type, subject_id, version, "
                "sender_party",
                (at, via, party_id, *subject_ids),
            )
        )

    def undelivered(self, party_id: str, subject_ids: list[str]) -> list[str]:
        if not subject_ids:
            return []
        return [
            r[0]
            for r in self.db.execute(
                "SELECT subject_id FROM inbox WHERE party_id = ? AND delivered_at IS NULL "
                f"AND subject_id IN ({marks(subject_ids)})",
                (party_id, *subject_ids),
            )
        ]

    def inbox_items(
        self,
        *,
        party_id: str | None,
        mechanism_id: str | None,
        pending_only: bool,
        overdue_at: float | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []
        if party_id is not None:
            where.append("party_id = ?")
            args.append(party_id)
        if mechanism_id is not None:
            where.append("mechanism_id = ?")
            args.append(mechanism_id)
        if pending_only:
            where.append("acknowledged_at IS NULL AND closed_at IS NULL")
        if overdue_at is not None:
            where.append("acknowledged_at IS NULL AND closed_at IS NULL AND deadline_ts <= ?")
            args.append(overdue_at)
        sql = "SELECT * FROM inbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return dicts(self.db.execute(sql + " ORDER BY deadline_ts, id LIMIT ?", (*args, limit)))

    def inbox_items_of(self, subject_id: str) -> list[dict[str, Any]]:
        return dicts(
            self.db.execute(
                "SELECT * FROM inbox WHERE subject_id = ? ORDER BY party_id", (subject_id,)
            )
        )

    def due_inbox_items(
        self, now: float, limit: int, mechanism_id: str | None = None
    ) -> list[dict[str, Any]]:
        """What is due by `now`, soonest first; only in one mechanism, if given."""
        where = "due_ts IS NOT NULL AND due_ts <= ?"
        params: list[Any] = [now]
        if mechanism_id is not None:
            where += " AND mechanism_id = ?"
            params.append(mechanism_id)
        return dicts(
            self.db.execute(
                f"SELECT * FROM inbox WHERE {where} ORDER BY due_ts, id LIMIT ?", [*params, limit]
            )
        )

    def advance_inbox_item(
        self, item_id: int, *, column: str, at: str, due_ts: float | None, trail_entry: str
    ) -> None:
        """Record a reminder or an escalation (`column`) and when the next step is due."""
        if column not in ("reminded_at", "escalated_at"):
            raise ValueError(column)
        self.db.execute(
            f"UPDATE inbox SET {column} = ?, due_ts = ?, trail_json = {APPEND_TRAIL} WHERE id = ?",
            (at, due_ts, trail_entry, trail_entry, item_id),
        )

    def overdue_counts(self, mechanism_id: str, now: float) -> dict[str, int]:
        return {
            row[0]: row[1]
            for row in self.db.execute(
                "SELECT party_id, count(*) FROM inbox WHERE mechanism_id = ? "
                "AND acknowledged_at IS NULL AND closed_at IS NULL AND deadline_ts <= ? "
                "GROUP BY party_id",
                (mechanism_id, now),
            )
        }

    # Escalation contacts, keys, last contact, silence, webhook health.

    def is_live_webhook_of(self, webhook_id: str, party_id: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM webhooks WHERE id = ? AND party_id = ? AND deleted_at IS NULL",
                (webhook_id, party_id),
            ).fetchone()
            is not None
        )

    def webhook_health(self, party_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Per party with live event webhooks: the latest success and failure of any of them."""
        if not party_ids:
            return {}
        return {
            row[0]: {"endpoints": row[1], "last_success_at": row[2], "last_failure_at": row[3]}
            for row in self.db.execute(
                "SELECT party_id, count(*), max(last_success_at), max(last_failure_at) "
                "FROM webhooks WHERE deleted_at IS NULL AND purpose = 'events' "
                f"AND party_id IN ({marks(party_ids)}) GROUP BY party_id",
                party_ids,
            )
        }

    def escalation_contact(self, mechanism_id: str, party_id: str) -> dict[str, Any] | None:
        return one(
            self.db.execute(
                "SELECT * FROM escalation_contacts WHERE mechanism_id = ? AND party_id = ?",
                (mechanism_id, party_id),
            )
        )

    def set_escalation_contact(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO escalation_contacts (mechanism_id, party_id, token_id, webhook_id, "
            "updated_at) VALUES (:mechanism_id, :party_id, :token_id, :webhook_id, :updated_at) "
            "ON CONFLICT (mechanism_id, party_id) DO UPDATE SET token_id = excluded.token_id, "
            "webhook_id = excluded.webhook_id, updated_at = excluded.updated_at",
            row,
        )

    def party_key(self, party_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM party_keys WHERE party_id = ?", (party_id,)))

    def set_party_key(self, party_id: str, public_key: str, at: str) -> None:
        self.db.execute(
            "INSERT INTO party_keys (party_id, public_key, registered_at) VALUES (?, ?, ?) "
            "ON CONFLICT (party_id) DO UPDATE SET public_key = excluded.public_key, "
            "registered_at = excluded.registered_at",
            (party_id, public_key, at),
        )

    def touch_party(self, party_id: str, at: str) -> None:
        self.db.execute(
            "INSERT INTO party_contact (party_id, last_seen_at) VALUES (?, ?) "
            "ON CONFLICT (party_id) DO UPDATE SET last_seen_at = excluded.last_seen_at "
            "WHERE excluded.last_seen_at > party_contact.last_seen_at",
            (party_id, at),
        )

    def last_seen(self, party_ids: list[str]) -> dict[str, str]:
        if not party_ids:
            return {}
        return {
            row[0]: row[1]
            for row in self.db.execute(
                "SELECT party_id, last_seen_at FROM party_contact "
                f"WHERE party_id IN ({marks(party_ids)})",
                party_ids,
            )
        }

    def silence_alarms(self, mechanism_id: str) -> dict[str, str]:
        return {
            row[0]: row[1]
            for row in self.db.execute(
                "SELECT party_id, raised_at FROM silence_alarms WHERE mechanism_id = ?",
                (mechanism_id,),
            )
        }

    def raise_silence_alarm(self, mechanism_id: str, party_id: str, at: str) -> None:
        self.db.execute(
            "INSERT INTO silence_alarms (mechanism_id, party_id, raised_at) VALUES (?, ?, ?)",
            (mechanism_id, party_id, at),
        )

    def clear_silence_alarm(self, mechanism_id: str, party_id: str) -> None:
        self.db.execute(
            "DELETE FROM silence_alarms WHERE mechanism_id = ? AND party_id = ?",
            (mechanism_id, party_id),
        )
