"""Versioned schema migrations of the SQLite store; each runs once, in order, in a transaction."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "parties, mechanisms, tokens, notifications, volumes index, conflicts, events",
        """
        CREATE TABLE parties (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            code TEXT NOT NULL UNIQUE,
            contact TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE TABLE tokens (
            id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            party_id TEXT REFERENCES parties(id),
            label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE INDEX tokens_party ON tokens(party_id);
        CREATE TABLE mechanisms (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            area_json TEXT,
            rules_json TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE members (
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            joined_at TEXT NOT NULL,
            PRIMARY KEY (mechanism_id, party_id)
        );
        CREATE INDEX members_party ON members(party_id);
        CREATE TABLE notifications (
            id TEXT PRIMARY KEY,
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            reference TEXT NOT NULL,
            version INTEGER NOT NULL,
            volumes_json TEXT NOT NULL,
            start_ts REAL NOT NULL,
            end_ts REAL NOT NULL,
            late INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            cancelled_at TEXT,
            cancel_reason TEXT
        );
        CREATE INDEX notifications_mechanism ON notifications(mechanism_id, party_id, start_ts);
        CREATE TABLE revisions (
            notification_id TEXT NOT NULL REFERENCES notifications(id),
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            reference TEXT NOT NULL,
            volumes_json TEXT NOT NULL,
            late INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            token_id TEXT NOT NULL,
            PRIMARY KEY (notification_id, version)
        );
        CREATE TABLE volumes (
            id INTEGER PRIMARY KEY,
            notification_id TEXT NOT NULL REFERENCES notifications(id)
        );
        CREATE INDEX volumes_notification ON volumes(notification_id);
        CREATE VIRTUAL TABLE volume_index USING rtree(
            id, x0, x1, y0, y1, z0, z1, a0, a1, t0, t1,
            +mechanism_id, +party_id, +notification_id, +idx, +radius_m, +centre_lon,
            +centre_lat, +lower_m, +upper_m, +reference, +start_ts, +end_ts, +core_wkb
        );
        CREATE TABLE conflicts (
            id TEXT PRIMARY KEY,
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            notification_a TEXT NOT NULL REFERENCES notifications(id),
            party_a TEXT NOT NULL,
            notification_b TEXT NOT NULL REFERENCES notifications(id),
            party_b TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            revision INTEGER NOT NULL,
            overlaps_json TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            resolved_at TEXT,
            resolution TEXT
        );
        CREATE UNIQUE INDEX conflicts_open_pair ON conflicts(notification_a, notification_b)
            WHERE state = 'open';
        CREATE INDEX conflicts_a ON conflicts(party_a, mechanism_id);
        CREATE INDEX conflicts_b ON conflicts(party_b, mechanism_id);
        CREATE INDEX conflicts_na ON conflicts(notification_a);
        CREATE INDEX conflicts_nb ON conflicts(notification_b);
        CREATE TABLE acknowledgements (
            subject_type TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            party_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            token_id TEXT NOT NULL,
            acknowledged_at TEXT NOT NULL,
            PRIMARY KEY (subject_type, subject_id, party_id, version)
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            mechanism_id TEXT NOT NULL,
            type TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            audience_json TEXT NOT NULL,
            payload_json TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE idempotency (
            token_id TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            response_json TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (token_id, key)
        );
        """,
    ),
    (
        2,
        "the line: messages, inbox deadlines, escalation, event audiences, webhooks, keys",
        """
        ALTER TABLE events ADD COLUMN token_id TEXT;
        CREATE TABLE event_audience (
            party_id TEXT NOT NULL,
            event_id INTEGER NOT NULL REFERENCES events(id),
            PRIMARY KEY (party_id, event_id)
        ) WITHOUT ROWID;
        INSERT INTO event_audience (party_id, event_id)
            SELECT j.value, e.id FROM events e, json_each(e.audience_json) j;
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            sender_party TEXT REFERENCES parties(id),
            sender_token TEXT,
            type TEXT NOT NULL,
            priority TEXT NOT NULL,
            body TEXT NOT NULL,
            refs_json TEXT NOT NULL,
            attachment_json TEXT,
            recipients_json TEXT NOT NULL,
            in_reply_to TEXT REFERENCES messages(id),
            thread_id TEXT NOT NULL,
            signature TEXT,
            signed_json TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_mechanism ON messages(mechanism_id, created_at);
        CREATE INDEX messages_sender ON messages(sender_party, created_at);
        CREATE INDEX messages_thread ON messages(thread_id, created_at);
        CREATE TABLE inbox (
            id INTEGER PRIMARY KEY,
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            subject_type TEXT NOT NULL
                CHECK (subject_type IN ('message', 'conflict', 'notification')),
            subject_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            sender_party TEXT,
            created_at TEXT NOT NULL,
            deadline_at TEXT NOT NULL,
            deadline_ts REAL NOT NULL,
            due_ts REAL,
            delivered_at TEXT,
            delivered_via TEXT,
            acknowledged_at TEXT,
            acknowledged_by TEXT,
            reminded_at TEXT,
            escalated_at TEXT,
            closed_at TEXT,
            trail_json TEXT NOT NULL DEFAULT '[]',
            UNIQUE (party_id, subject_type, subject_id)
        );
        CREATE INDEX inbox_due ON inbox(due_ts) WHERE due_ts IS NOT NULL;
        CREATE INDEX inbox_subject ON inbox(subject_id);
        CREATE INDEX inbox_mechanism ON inbox(mechanism_id, party_id, created_at);
        CREATE TABLE webhooks (
            id TEXT PRIMARY KEY,
            party_id TEXT NOT NULL REFERENCES parties(id),
            url TEXT NOT NULL,
            secret TEXT NOT NULL,
            purpose TEXT NOT NULL CHECK (purpose IN ('events', 'escalation')),
            created_at TEXT NOT NULL,
            deleted_at TEXT,
            last_success_at TEXT,
            last_failure_at TEXT,
            last_error TEXT
        );
        CREATE INDEX webhooks_party ON webhooks(party_id);
        CREATE TABLE webhook_outbox (
            id INTEGER PRIMARY KEY,
            webhook_id TEXT NOT NULL REFERENCES webhooks(id),
            event_id INTEGER NOT NULL REFERENCES events(id),
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_ts REAL NOT NULL,
            created_at TEXT NOT NULL,
            delivered_at TEXT,
            last_status INTEGER,
            last_error TEXT,
            UNIQUE (webhook_id, event_id)
        );
        CREATE INDEX webhook_outbox_pending ON webhook_outbox(webhook_id, id)
            WHERE state = 'pending';
        CREATE TABLE webhook_attempts (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES webhook_outbox(id),
            webhook_id TEXT NOT NULL,
            event_id INTEGER NOT NULL,
            attempted_at TEXT NOT NULL,
            status INTEGER,
            error TEXT,
            duration_ms REAL NOT NULL
        );
        CREATE INDEX webhook_attempts_webhook ON webhook_attempts(webhook_id, id);
        CREATE TABLE escalation_contacts (
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            token_id TEXT REFERENCES tokens(id),
            webhook_id TEXT REFERENCES webhooks(id),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (mechanism_id, party_id)
        );
        CREATE TABLE party_keys (
            party_id TEXT PRIMARY KEY REFERENCES parties(id),
            public_key TEXT NOT NULL,
            registered_at TEXT NOT NULL
        );
        CREATE TABLE party_contact (
            party_id TEXT PRIMARY KEY REFERENCES parties(id),
            last_seen_at TEXT NOT NULL
        );
        CREATE TABLE silence_alarms (
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            raised_at TEXT NOT NULL,
            PRIMARY KEY (mechanism_id, party_id)
        );
        """,
    ),
    (
        3,
        "the transparency log: salted entries, their audiences, cached subtrees, signed heads, "
        "the service's public keys",
        """
        CREATE TABLE log_entries (
            idx INTEGER PRIMARY KEY CHECK (idx >= 0),
            kind TEXT NOT NULL,
            mechanism_id TEXT,
            subject_id TEXT,
            entry_json TEXT NOT NULL,
            salt BLOB NOT NULL,
            leaf_hash BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX log_entries_subject ON log_entries(subject_id);
        CREATE TABLE log_audience (
            party_id TEXT NOT NULL REFERENCES parties(id),
            idx INTEGER NOT NULL REFERENCES log_entries(idx),
            PRIMARY KEY (party_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE log_subtrees (
            start INTEGER NOT NULL,
            size INTEGER NOT NULL,
            digest BLOB NOT NULL,
            PRIMARY KEY (start, size)
        ) WITHOUT ROWID;
        CREATE TABLE log_heads (
            id INTEGER PRIMARY KEY,
            tree_size INTEGER NOT NULL,
            root_hash TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            key_id TEXT NOT NULL,
            signature TEXT NOT NULL
        );
        CREATE INDEX log_heads_size ON log_heads(tree_size);
        CREATE TABLE service_keys (
            key_id TEXT PRIMARY KEY,
            public_key TEXT NOT NULL,
            activated_at TEXT NOT NULL,
            retired_at TEXT,
            announced_at_idx INTEGER REFERENCES log_entries(idx)
        )
        """,
    ),
    (
        4,
        "incidents: reports, the items they link, the parties involved",
        """
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            reporter_party TEXT NOT NULL REFERENCES parties(id),
            reporter_token TEXT NOT NULL,
            kind TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            place_json TEXT NOT NULL,
            description TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('reported', 'under_review', 'closed')),
            reported_at TEXT NOT NULL,
            reviewed_at TEXT,
            reviewed_by_token TEXT,
            reviewed_by_party TEXT,
            closed_at TEXT,
            closed_by_token TEXT,
            closed_by_party TEXT,
            finding TEXT
        );
        CREATE INDEX incidents_mechanism ON incidents(mechanism_id, reported_at);
        CREATE TABLE incident_links (
            incident_id TEXT NOT NULL REFERENCES incidents(id),
            kind TEXT NOT NULL CHECK (kind IN ('notification', 'conflict', 'message')),
            subject_id TEXT NOT NULL,
            PRIMARY KEY (incident_id, kind, subject_id)
        ) WITHOUT ROWID;
        CREATE INDEX incident_links_subject ON incident_links(subject_id);
        CREATE TABLE incident_parties (
            incident_id TEXT NOT NULL REFERENCES incidents(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            PRIMARY KEY (incident_id, party_id)
        ) WITHOUT ROWID;
        CREATE INDEX incident_parties_party ON incident_parties(party_id, incident_id)
        """,
    ),
]


def migrate(connection: sqlite3.Connection) -> list[int]:
    """Apply every migration the database lacks; returns the versions applied."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = []
    for version, description, script in MIGRATIONS:
        # Checked inside the write lock, so two processes opening a new file migrate it once.
        connection.execute("BEGIN IMMEDIATE")
        try:
            if connection.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone():
                connection.execute("COMMIT")
                continue
            for statement in script.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (version, description, datetime.now(UTC).isoformat()),
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
