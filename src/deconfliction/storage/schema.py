"""The tables both stores keep, written once; each backend fills in its own column types and adds
what only it has (SQLite's R*Tree, PostgreSQL's extensions and GiST index, backfills in each
one's JSON functions). Migration N's tables are TABLES[N]; see each backend's migrations.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Types:
    """How a backend spells the column types the tables use."""

    integer: str  # a whole number (ids, indexes, counts)
    real: str  # a 64-bit float
    blob: str  # bytes
    serial: str  # an integer primary key the database assigns, increasing
    ordered_key: str  # an integer primary key given in commit order, never reused
    without_rowid: str  # the suffix of a table stored by its primary key alone


def tables(version: int, types: Types) -> str:
    """Migration `version`'s shared statements, `;`-separated, in the backend's types."""
    return TABLES[version].format(**asdict(types))


DESCRIPTIONS = {
    1: "parties, mechanisms, tokens, notifications, volumes index, conflicts, events",
    2: "the line: messages, inbox deadlines, escalation, event audiences, webhooks, keys",
    3: "the transparency log: salted entries, their audiences, cached subtrees, signed heads, "
    "the service's public keys",
    4: "incidents: reports, the items they link, the parties involved",
    5: "notifications in start order per mechanism, for listings",
    6: "the transparency log's id, named by every tree head signed since",
    7: "idempotency records named by the mechanism they were made in (they move with it)",
    8: "conflicts in detection order per mechanism, for listings and moves",
    9: "each party's unacknowledged inbox items in deadline order, for its pending and overdue",
    10: "open conflicts in detection order, each party's and all, for the open-conflict listings",
    11: "the system message a log entry records besides its subject (a conflict's announcement)",
    12: "the volume index's recent changes per mechanism, for conflict searches made ahead",
    13: "conflicts by notification and the other side's party, so a listing's lookups of a "
    "party's conflicts read the index alone",
}

TABLES: dict[int, str] = {
    1: """
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
            version {integer} NOT NULL,
            volumes_json TEXT NOT NULL,
            start_ts {real} NOT NULL,
            end_ts {real} NOT NULL,
            late {integer} NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            cancelled_at TEXT,
            cancel_reason TEXT
        );
        CREATE INDEX notifications_mechanism ON notifications(mechanism_id, party_id, start_ts);
        CREATE TABLE revisions (
            notification_id TEXT NOT NULL REFERENCES notifications(id),
            version {integer} NOT NULL,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            reference TEXT NOT NULL,
            volumes_json TEXT NOT NULL,
            late {integer} NOT NULL,
            received_at TEXT NOT NULL,
            token_id TEXT NOT NULL,
            PRIMARY KEY (notification_id, version)
        );
        CREATE TABLE conflicts (
            id TEXT PRIMARY KEY,
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            notification_a TEXT NOT NULL REFERENCES notifications(id),
            party_a TEXT NOT NULL,
            notification_b TEXT NOT NULL REFERENCES notifications(id),
            party_b TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            revision {integer} NOT NULL,
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
            version {integer} NOT NULL,
            token_id TEXT NOT NULL,
            acknowledged_at TEXT NOT NULL,
            PRIMARY KEY (subject_type, subject_id, party_id, version)
        );
        CREATE TABLE events (
            id {ordered_key},
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
    2: """
        ALTER TABLE events ADD COLUMN token_id TEXT;
        CREATE TABLE event_audience (
            party_id TEXT NOT NULL,
            event_id {integer} NOT NULL REFERENCES events(id),
            PRIMARY KEY (party_id, event_id)
        ){without_rowid};
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
            id {serial},
            mechanism_id TEXT NOT NULL REFERENCES mechanisms(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            subject_type TEXT NOT NULL
                CHECK (subject_type IN ('message', 'conflict', 'notification')),
            subject_id TEXT NOT NULL,
            version {integer} NOT NULL,
            sender_party TEXT,
            created_at TEXT NOT NULL,
            deadline_at TEXT NOT NULL,
            deadline_ts {real} NOT NULL,
            due_ts {real},
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
            id {serial},
            webhook_id TEXT NOT NULL REFERENCES webhooks(id),
            event_id {integer} NOT NULL REFERENCES events(id),
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts {integer} NOT NULL DEFAULT 0,
            next_attempt_ts {real} NOT NULL,
            created_at TEXT NOT NULL,
            delivered_at TEXT,
            last_status {integer},
            last_error TEXT,
            UNIQUE (webhook_id, event_id)
        );
        CREATE INDEX webhook_outbox_pending ON webhook_outbox(webhook_id, id)
            WHERE state = 'pending';
        CREATE TABLE webhook_attempts (
            id {serial},
            outbox_id {integer} NOT NULL REFERENCES webhook_outbox(id),
            webhook_id TEXT NOT NULL,
            event_id {integer} NOT NULL,
            attempted_at TEXT NOT NULL,
            status {integer},
            error TEXT,
            duration_ms {real} NOT NULL
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
    3: """
        CREATE TABLE log_entries (
            idx {integer} PRIMARY KEY CHECK (idx >= 0),
            kind TEXT NOT NULL,
            mechanism_id TEXT,
            subject_id TEXT,
            entry_json TEXT NOT NULL,
            salt {blob} NOT NULL,
            leaf_hash {blob} NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX log_entries_subject ON log_entries(subject_id);
        CREATE TABLE log_audience (
            party_id TEXT NOT NULL REFERENCES parties(id),
            idx {integer} NOT NULL REFERENCES log_entries(idx),
            PRIMARY KEY (party_id, idx)
        ){without_rowid};
        CREATE TABLE log_subtrees (
            start {integer} NOT NULL,
            size {integer} NOT NULL,
            digest {blob} NOT NULL,
            PRIMARY KEY (start, size)
        ){without_rowid};
        CREATE TABLE log_heads (
            id {serial},
            tree_size {integer} NOT NULL,
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
            announced_at_idx {integer} REFERENCES log_entries(idx)
        )
        """,
    4: """
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
        ){without_rowid};
        CREATE INDEX incident_links_subject ON incident_links(subject_id);
        CREATE TABLE incident_parties (
            incident_id TEXT NOT NULL REFERENCES incidents(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            PRIMARY KEY (incident_id, party_id)
        ){without_rowid};
        CREATE INDEX incident_parties_party ON incident_parties(party_id, incident_id)
        """,
    5: """
        CREATE INDEX notifications_start ON notifications(mechanism_id, start_ts, id)
        """,
    6: """
        CREATE TABLE log_identity (
            singleton {integer} PRIMARY KEY CHECK (singleton = 1),
            log_id TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        );
        ALTER TABLE log_heads ADD COLUMN log_id TEXT
        """,
    7: """
        ALTER TABLE idempotency ADD COLUMN mechanism_id TEXT;
        CREATE INDEX idempotency_mechanism ON idempotency(mechanism_id)
        """,
    8: """
        CREATE INDEX conflicts_mechanism ON conflicts(mechanism_id, detected_at, id)
        """,
    9: """
        CREATE INDEX inbox_pending ON inbox(party_id, deadline_ts, id)
            WHERE acknowledged_at IS NULL AND closed_at IS NULL
        """,
    10: """
        CREATE INDEX conflicts_open_a ON conflicts(party_a, detected_at, id) WHERE state = 'open';
        CREATE INDEX conflicts_open_b ON conflicts(party_b, detected_at, id) WHERE state = 'open';
        CREATE INDEX conflicts_open ON conflicts(detected_at, id) WHERE state = 'open'
        """,
    11: """
        ALTER TABLE log_entries ADD COLUMN announcement_id TEXT;
        CREATE INDEX log_entries_announcement ON log_entries(announcement_id)
            WHERE announcement_id IS NOT NULL
        """,
    12: """
        CREATE TABLE index_changes (
            id {serial},
            mechanism_id TEXT NOT NULL,
            notification_id TEXT NOT NULL
        );
        CREATE INDEX index_changes_mechanism ON index_changes(mechanism_id, id);
        CREATE TABLE index_changes_pruned (
            singleton {integer} PRIMARY KEY CHECK (singleton = 1),
            through {integer} NOT NULL
        )
        """,
    13: """
        CREATE INDEX conflicts_na_pb ON conflicts(notification_a, party_b);
        CREATE INDEX conflicts_nb_pa ON conflicts(notification_b, party_a);
        DROP INDEX conflicts_na;
        DROP INDEX conflicts_nb
        """,
}
