"""The SQLite queries of incidents: the reports, the items each links, the parties involved, and
the messages that refer to any of them."""

from __future__ import annotations

import sqlite3
from typing import Any

from deconfliction.storage.sqlite.rows import dicts, marks, one


class IncidentQueries:
    """Mixed into the store's transaction; `db` is the transaction's connection."""

    db: sqlite3.Connection
    # Each value of the lists in a message's `refs_json` object, as rows of `r.value`.
    REFERENCE_VALUES = "json_each(m.refs_json) k, json_each(k.value) r"

    def insert_incident(
        self, row: dict[str, Any], links: list[tuple[str, str]], parties: list[str]
    ) -> None:
        """Store a new incident, its links as (kind, subject id) and the parties involved."""
        self.db.execute(
            "INSERT INTO incidents (id, mechanism_id, reporter_party, reporter_token, kind, "
            "occurred_at, place_json, description, state, reported_at) VALUES (:id, "
            ":mechanism_id, :reporter_party, :reporter_token, :kind, :occurred_at, :place_json, "
            ":description, 'reported', :reported_at)",
            row,
        )
        self.db.executemany(
            "INSERT INTO incident_links (incident_id, kind, subject_id) VALUES (?, ?, ?)",
            [(row["id"], kind, subject) for kind, subject in links],
        )
        self.db.executemany(
            "INSERT INTO incident_parties (incident_id, party_id) VALUES (?, ?)",
            [(row["id"], party) for party in sorted(set(parties))],
        )

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)))

    def incident_links(self, incident_id: str) -> list[dict[str, Any]]:
        """The incident's links as rows of (kind, subject_id), ordered by kind and id."""
        return dicts(
            self.db.execute(
                "SELECT kind, subject_id FROM incident_links WHERE incident_id = ? "
                "ORDER BY kind, subject_id",
                (incident_id,),
            )
        )

    def incident_parties(self, incident_id: str) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT party_id FROM incident_parties WHERE incident_id = ? ORDER BY party_id",
                (incident_id,),
            )
        ]

    def incidents(
        self, mechanism_id: str, *, party: str | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """A mechanism's incidents, newest first; with `party`, only those it is involved in."""
        where, args = ["i.mechanism_id = ?"], [mechanism_id]
        if party is not None:
            where.append("i.id IN (SELECT incident_id FROM incident_parties WHERE party_id = ?)")
            args.append(party)
        if state is not None:
            where.append("i.state = ?")
            args.append(state)
        return dicts(
            self.db.execute(
                f"SELECT i.* FROM incidents i WHERE {' AND '.join(where)} "
                "ORDER BY i.reported_at DESC, i.id LIMIT ?",
                [*args, limit],
            )
        )

    def review_incident(self, incident_id: str, at: str, token_id: str, party: str | None) -> None:
        self.db.execute(
            "UPDATE incidents SET state = 'under_review', reviewed_at = ?, reviewed_by_token = ?, "
            "reviewed_by_party = ? WHERE id = ?",
            (at, token_id, party, incident_id),
        )

    def close_incident(
        self, incident_id: str, at: str, token_id: str, party: str | None, finding: str
    ) -> None:
        self.db.execute(
            "UPDATE incidents SET state = 'closed', closed_at = ?, closed_by_token = ?, "
            "closed_by_party = ?, finding = ? WHERE id = ?",
            (at, token_id, party, finding, incident_id),
        )

    def messages_referring_to(
        self, mechanism_id: str, subject_ids: list[str], limit: int
    ) -> list[str]:
        """Ids of the mechanism's messages whose references name any of the subjects."""
        if not subject_ids:
            return []
        return [
            r[0]
            for r in self.db.execute(
                "SELECT m.id FROM messages m WHERE m.mechanism_id = ? AND EXISTS (SELECT 1 FROM "
                f"{self.REFERENCE_VALUES} WHERE r.value IN ({marks(subject_ids)})) "
                "ORDER BY m.created_at, m.id LIMIT ?",
                (mechanism_id, *subject_ids, limit),
            )
        ]
