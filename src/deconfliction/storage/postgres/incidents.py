"""The PostgreSQL side of the incident queries where it differs from SQLite's: references read
with PostgreSQL's JSON functions, and the mechanism lock before an incident's writes."""

from __future__ import annotations

from typing import Any

from deconfliction.storage.postgres.locks import Locking
from deconfliction.storage.sqlite.incidents import IncidentQueries


class PostgresIncidentQueries(Locking, IncidentQueries):
    """Mixed into the store's transaction before the SQLite queries it overrides."""

    REFERENCE_VALUES = (
        "json_each(m.refs_json::json) k, json_array_elements_text(k.value) AS r(value)"
    )

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        return self.locked_row("incidents", incident_id)

    def insert_incident(
        self, row: dict[str, Any], links: list[tuple[str, str]], parties: list[str]
    ) -> None:
        self.lock_mechanism(row["mechanism_id"])
        super().insert_incident(row, links, parties)
