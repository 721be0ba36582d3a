"""The SQLite queries of the transparency log: entries and who may see them, the cache of
complete subtree hashes, signed tree heads and the service's public keys.

The store keeps bytes and rows; what a leaf hash or a root is, is decided by `proof/`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from deconfliction.storage.committed_log import CommittedLog, Lesson
from deconfliction.storage.sqlite.rows import dicts, one


class LedgerQueries:
    """Mixed into the store's transaction; `db` is the transaction's connection."""

    db: sqlite3.Connection
    log_count: int | None  # the log's size, known once this transaction has appended to it
    log_first_own: int | None  # the index of this transaction's first entry, if it appended
    log_own_rows: dict[int, dict[str, Any]]  # the entries this transaction appended, by index
    committed_log: CommittedLog  # what the store's committed transactions read or made of the log
    log_lesson: Lesson  # what this transaction read or made of it, learnt if it commits

    def log_size(self) -> int:
        """The log's size. Once this transaction has appended an entry nobody else appends until
        it commits (SQLite: one writer; PostgreSQL: the log lock), so it is counted, not read."""
        if self.log_count is not None:
            return self.log_count
        row = self.db.execute("SELECT MAX(idx) FROM log_entries").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def append_log_entry(self, row: dict[str, Any], audience: list[str]) -> int:
        """Store the next entry of the log (its index is the log's size) and who may see it."""
        index = self.log_size()
        stored = {"announcement_id": None, **row, "idx": index}
        self.db.execute(
            "INSERT INTO log_entries (idx, kind, mechanism_id, subject_id, announcement_id, "
            "entry_json, salt, leaf_hash, created_at) VALUES (:idx, :kind, :mechanism_id, "
            ":subject_id, :announcement_id, :entry_json, :salt, :leaf_hash, :created_at)",
            stored,
        )
        self.db.executemany(
            "INSERT INTO log_audience (party_id, idx) VALUES (?, ?)",
            [(party, index) for party in sorted(set(audience))],
        )
        self.log_count = index + 1
        self.log_own_rows[index] = stored
        self.log_lesson.leaves[index] = row["leaf_hash"]
        if self.log_first_own is None:
            self.log_first_own = index
        return index

    def appended_log_entry(self, index: int) -> bool:
        """Whether this transaction appended the entry (then no stored head covers it yet)."""
        return self.log_first_own is not None and index >= self.log_first_own

    def log_leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes start ≤ i < end: from memory if this process knows them all (leaves
        committed, or this transaction's own or read), else read."""
        known, this = self.committed_log.leaves, self.log_lesson.leaves
        hashes = []
        for index in range(start, end):
            digest = known.get(index)
            if digest is None:
                digest = this.get(index)
                if digest is None:
                    return self._read_leaf_hashes(start, end)
            hashes.append(digest)
        return hashes

    def _read_leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = self.db.execute(
            "SELECT idx, leaf_hash FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, end),
        ).fetchall()
        read = {int(r[0]): bytes(r[1]) for r in rows}
        self.log_lesson.leaves.update(read)
        return list(read.values())

    def log_entry(self, index: int) -> dict[str, Any] | None:
        """The entry at `index` (one this transaction appended without reading it back)."""
        if index in self.log_own_rows:
            return dict(self.log_own_rows[index])
        return one(self.db.execute("SELECT * FROM log_entries WHERE idx = ?", (index,)))

    def log_entries(self, start: int, limit: int) -> list[dict[str, Any]]:
        """Entries from index `start` on, in order (for whoever checks the whole log)."""
        return dicts(
            self.db.execute(
                "SELECT * FROM log_entries WHERE idx >= ? ORDER BY idx LIMIT ?", (start, limit)
            )
        )

    def log_entries_of_subject(self, subject_id: str) -> list[dict[str, Any]]:
        """The entries about a subject: those it is the subject of, and, for a system message,
        the entry that records it as its subject's announcement."""
        return dicts(
            self.db.execute(
                "SELECT * FROM log_entries WHERE subject_id = ? OR announcement_id = ? "
                "ORDER BY idx",
                (subject_id, subject_id),
            )
        )

    def log_audience(self, index: int) -> list[str]:
        """Who may see the entry. The audience is keyed (party, index), for a party's entries in
        order; an entry's parties are found by one key lookup per party of the store (tens), not
        by a scan of every audience row (78 ms at 10⁶ entries against 0.06 ms). SQLite takes
        the tables of a CROSS JOIN in the order written."""
        return [
            r[0]
            for r in self.db.execute(
                "SELECT a.party_id FROM parties p CROSS JOIN log_audience a "
                "WHERE a.party_id = p.id AND a.idx = ? ORDER BY a.party_id",
                (index,),
            )
        ]

    def log_entries_seen_by(
        self, party_id: str | None, after: int, limit: int, subject_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Entries after an index that a party may see (all for the operator), optionally only
        those about some subjects."""
        where: list[str] = ["e.idx > ?"]
        params: list[Any] = [after]
        if subject_ids is not None:
            marks = ", ".join("?" * len(subject_ids))
            where.append(f"(e.subject_id IN ({marks}) OR e.announcement_id IN ({marks}))")
            params += [*subject_ids, *subject_ids]
        if party_id is None:
            sql = f"SELECT e.* FROM log_entries e WHERE {' AND '.join(where)}"
        else:
            sql = (
                "SELECT e.* FROM log_audience a JOIN log_entries e ON e.idx = a.idx "
                f"WHERE a.party_id = ? AND {' AND '.join(where)}"
            )
            params = [party_id, *params]
        return dicts(self.db.execute(f"{sql} ORDER BY e.idx LIMIT ?", [*params, limit]))

    def log_subtree(self, start: int, size: int) -> bytes | None:
        return self.log_subtrees([(start, size)]).get((start, size))

    def log_subtrees(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored ones of these subtrees: those this process knows from memory, the others
        in one query."""
        known = self.committed_log.subtrees
        found = {key: known[key] for key in keys if key in known}
        unknown = [key for key in keys if key not in found]
        if not unknown:
            return found
        # One primary-key lookup a subtree (a row-value IN list would scan the table in SQLite).
        match = " OR ".join(["(start = ? AND size = ?)"] * len(unknown))
        rows = self.db.execute(
            f"SELECT start, size, digest FROM log_subtrees WHERE {match}",
            [number for key in unknown for number in key],
        )
        read = {(r[0], r[1]): bytes(r[2]) for r in rows}
        self.log_lesson.subtrees.update(read)
        return found | read

    def put_log_subtree(self, start: int, size: int, digest: bytes) -> None:
        self.db.execute(
            "INSERT INTO log_subtrees (start, size, digest) VALUES (?, ?, ?) "
            "ON CONFLICT (start, size) DO UPDATE SET digest = excluded.digest",
            (start, size, digest),
        )
        self.log_lesson.subtrees[start, size] = digest

    def log_id(self) -> str | None:
        """The log's id, None until its first named head (once named, never changed)."""
        if self.committed_log.log_id is not None:
            return self.committed_log.log_id
        row = self.db.execute("SELECT log_id FROM log_identity").fetchone()
        if row is None:
            return None
        self.log_lesson.log_id = str(row[0])
        return self.log_lesson.log_id

    def name_log(self, log_id: str, at: str) -> str:
        """Give the log `log_id` unless it has an id; the log's id."""
        self.db.execute(
            "INSERT INTO log_identity (singleton, log_id, created_at) VALUES (1, ?, ?) "
            "ON CONFLICT (singleton) DO NOTHING",
            (log_id, at),
        )
        named = self.log_id()
        assert named is not None
        return named

    def insert_log_head(self, row: dict[str, Any]) -> None:
        """Store a signed head. Nothing is read back: under PostgreSQL's log lock the insert is
        pipelined, and a read would wait for it (a round trip while every writer waits)."""
        self.db.execute(
            "INSERT INTO log_heads (log_id, tree_size, root_hash, timestamp, key_id, signature) "
            "VALUES (:log_id, :tree_size, :root_hash, :timestamp, :key_id, :signature)",
            {"log_id": None, **row},
        )

    def latest_log_head(self) -> dict[str, Any] | None:
        return one(self.db.execute("SELECT * FROM log_heads ORDER BY id DESC LIMIT 1"))

    def log_heads(self, after_id: int, limit: int) -> list[dict[str, Any]]:
        return dicts(
            self.db.execute(
                "SELECT * FROM log_heads WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
            )
        )

    def service_keys(self) -> list[dict[str, Any]]:
        return dicts(self.db.execute("SELECT * FROM service_keys ORDER BY rowid"))

    def add_service_key(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO service_keys (key_id, public_key, activated_at, announced_at_idx) "
            "VALUES (:key_id, :public_key, :activated_at, :announced_at_idx)",
            row,
        )

    def retire_service_key(self, key_id: str, at: str) -> None:
        self.db.execute(
            "UPDATE service_keys SET retired_at = ? WHERE key_id = ? AND retired_at IS NULL",
            (at, key_id),
        )

    def log_heads_by_size(self, after_size: int, after_id: int, limit: int) -> list[dict[str, Any]]:
        """Heads in order of (tree_size, id) after the head (after_size, after_id), for whoever
        checks them against the whole log."""
        return dicts(
            self.db.execute(
                "SELECT * FROM log_heads WHERE tree_size > ? OR (tree_size = ? AND id > ?) "
                "ORDER BY tree_size, id LIMIT ?",
                (after_size, after_size, after_id, limit),
            )
        )
