"""The operator's audit of the whole transparency log, offline, from the store.

One pass over the entries in index order, in batches, and over the signed heads in order of size:

- entries: indexes run 0, 1, 2, … with none missing; `entry_json` is the RFC 8785 canonical form
  of itself and agrees with the row's kind, mechanism, subject and time; SHA-256(0x00 || salt ||
  entry_json bytes as stored) is the stored `leaf_hash`;
- heads: the root recomputed from the *recomputed* leaf hashes at each head's size (a compact
  range of complete subtrees, O(log n) per head; the `log_subtrees` cache is never read) is the
  head's root, and the head's signature verifies with the `service_keys` key it names; a head
  that names a log names this one (`log_identity`: a head of another log, say another shard's,
  put in this log's place is found);
- keys: the log has one first key; every `key.rotated` entry is signed by the key active before
  it and names a key `service_keys` records as announced at that entry, and every key recorded
  as announced is.

The first bad entry is located exactly when an entry fails its own checks; otherwise, when a
validly signed head disagrees with the entries, as the range between the last signed head that
agrees and the first that does not. What the audit cannot show: the operator holds the key, so a
log rewritten and re-signed whole passes — parties' saved heads and receipts are the defence.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from deconfliction.proof import key_rotation
from deconfliction.proof.entries import SALT_SIZE, canonical
from deconfliction.proof.merkle import EMPTY_ROOT, leaf_hash, node_hash
from deconfliction.proof.tree_head import key_id, verify_tree_head
from deconfliction.services import ledger
from deconfliction.services.ports import Row, Store, Transaction

BATCH = 5_000
MAX_FINDINGS = 1_000
# Entry fields the row repeats in its own columns (for queries): entry field → column.
_COLUMNS = {
    "kind": "kind",
    "mechanism_id": "mechanism_id",
    "subject_id": "subject_id",
    "at": "created_at",
}

Progress = Callable[[int, int], None]


def _announcement_id(entry: Any) -> Any:
    """The system message an entry records besides its subject (`data.announcement`), if any."""
    data = entry.get("data")
    announced = data.get("announcement") if isinstance(data, dict) else None
    return announced.get("message_id") if isinstance(announced, dict) else None


class Frontier:
    """The roots of the complete subtrees of the leaves appended so far, largest first: one per
    set bit of the size (a compact range). Appending costs amortised O(1) hashes, a root
    O(log n); the roots are RFC 9162 MTH."""

    def __init__(self) -> None:
        self.size = 0
        self.nodes: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        self.nodes.append(leaf)
        self.size += 1
        completed = self.size
        while completed & 1 == 0:  # each trailing zero bit: two equal subtrees become one
            right = self.nodes.pop()
            self.nodes.append(node_hash(self.nodes.pop(), right))
            completed >>= 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        digest = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            digest = node_hash(node, digest)
        return digest


@dataclass(frozen=True)
class Finding:
    """One problem: the check (`sequence`, `leaf`, `canonical`, `columns`, `root`, `signature`,
    `head`, `key`), what is wrong, and the entry index or head it is about."""

    check: str
    message: str
    index: int | None = None
    head: str | None = None


@dataclass
class AuditReport:
    """What the audit checked and found; `first_bad_index` exact, `suspect_range` (first, last
    entry) when only a signed head locates the damage."""

    log_size: int = 0
    log_id: str | None = None
    entries: int = 0
    heads: int = 0
    keys: int = 0
    rotations: int = 0
    first_key_id: str | None = None
    findings: list[Finding] = field(default_factory=list)
    omitted: int = 0
    first_bad_index: int | None = None
    suspect_range: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def first_bad(self) -> str | None:
        """The first bad entry, in words; None if no entry is known bad."""
        exact, span = self.first_bad_index, self.suspect_range
        if exact is not None and (span is None or exact <= span[1]):
            return f"entry {exact}"
        if span is not None:
            first, last = span
            if first == last:
                return f"entry {first} (the first signed head that disagrees covers it alone)"
            return (
                f"between entries {first} and {last} (entries 0–{first - 1} agree with a signed "
                f"head of size {first}; the signed head of size {last + 1} disagrees)"
            )
        return None


def _described(row: Row) -> str:
    return f"head #{row.get('id')} (size {row.get('tree_size')}, at {row.get('timestamp')})"


def _public_key(row: Row) -> bytes | None:
    try:
        raw = base64.b64decode(str(row["public_key"]), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 and key_id(raw) == row["key_id"] else None


def _heads(tx: Transaction, batch: int) -> Iterator[Row]:
    """The stored heads in order of size (then id), read in batches."""
    after_size, after_id = -1, 0
    while True:
        rows = tx.log_heads_by_size(after_size, after_id, batch)
        yield from rows
        if len(rows) < batch:
            return
        after_size, after_id = rows[-1]["tree_size"], rows[-1]["id"]


class _Audit:
    """The state of one pass over the log; `report` fills as it goes."""

    def __init__(self, tx: Transaction, batch: int) -> None:
        self.report = AuditReport(log_size=tx.log_size(), log_id=tx.log_id())
        self.frontier = Frontier()
        self.next_index = 0
        self.gap_at: int | None = None  # the first missing index: no root is known beyond it
        self.unchecked_heads = 0
        self.last_good_size = 0
        self.first_bad_size: int | None = None
        self.heads = _heads(tx, batch)
        self.next_head = next(self.heads, None)
        self.keys: dict[str, bytes] = {}
        self.announced: dict[int, Row] = {}  # announced_at_idx → the key recorded there
        self.active: bytes | None = None
        self._load_keys(tx.service_keys())

    def add(self, finding: Finding) -> None:
        report = self.report
        if finding.index is not None:
            if report.first_bad_index is None or finding.index < report.first_bad_index:
                report.first_bad_index = finding.index
        if len(report.findings) < MAX_FINDINGS:
            report.findings.append(finding)
        else:
            report.omitted += 1

    # -- keys ---------------------------------------------------------------------------------

    def _load_keys(self, rows: list[Row]) -> None:
        self.report.keys = len(rows)
        for row in rows:
            raw = _public_key(row)
            if raw is None:
                message = f"key {row['key_id']}: not base64 of the 32-byte key its id names"
                self.add(Finding("key", message))
                continue
            self.keys[row["key_id"]] = raw
            if row["announced_at_idx"] is not None:
                self.announced[int(row["announced_at_idx"])] = row
            elif self.active is None:
                self.active = raw
                self.report.first_key_id = row["key_id"]
            else:
                message = (
                    f"key {row['key_id']} is neither the log's first key nor announced by a "
                    "key.rotated entry"
                )
                self.add(Finding("key", message))

    def _rotation(self, index: int, announcement: Any) -> None:
        self.report.rotations += 1
        recorded = self.announced.pop(index, None)
        new_key = None if self.active is None else key_rotation.verify(announcement, self.active)
        if new_key is None:
            active = "none" if self.active is None else key_id(self.active)
            message = f"the key rotation is not signed by the key active before it ({active})"
            self.add(Finding("key", message, index=index))
            return
        if recorded is None or self.keys.get(recorded["key_id"]) != new_key:
            message = f"service_keys does not record key {key_id(new_key)} as announced here"
            self.add(Finding("key", message, index=index))
        self.active = new_key

    def finish_keys(self) -> None:
        for index, row in sorted(self.announced.items()):
            message = (
                f"key {row['key_id']} is recorded as announced at entry {index}, which is not "
                "a valid key rotation"
            )
            self.add(Finding("key", message, index=index))

    # -- entries ------------------------------------------------------------------------------

    def entry(self, row: Row) -> None:
        index = int(row["idx"])
        self.report.entries += 1
        if index != self.next_index:
            first, last = self.next_index, index - 1
            missing = f"entry {first} is" if first == last else f"entries {first}–{last} are"
            self.add(Finding("sequence", f"{missing} missing", index=first))
            if self.gap_at is None:
                self.gap_at = first
        self.next_index = index + 1
        salt, text = row["salt"], row["entry_json"]
        if not isinstance(salt, bytes) or len(salt) != SALT_SIZE or not isinstance(text, str):
            self.add(Finding("leaf", "the salt is not 32 bytes or the entry not text", index=index))
            return
        data = text.encode("utf-8")
        recomputed = leaf_hash(salt + data)
        if recomputed != row["leaf_hash"]:
            message = (
                "the leaf hash is not SHA-256(0x00 || salt || entry_json): the entry, its salt "
                "or its leaf hash was altered"
            )
            self.add(Finding("leaf", message, index=index))
        self._content(index, row, text)
        if self.gap_at is None:
            self.frontier.append(recomputed)
            self.settle(self.frontier.size)

    def _content(self, index: int, row: Row, text: str) -> None:
        try:
            entry = json.loads(text, parse_constant=_refuse)
            canonical_form = canonical(entry)
        except ValueError as error:
            message = f"entry_json is not a canonical entry: {error}"
            self.add(Finding("canonical", message, index=index))
            return
        if canonical_form != text.encode("utf-8"):
            message = "entry_json is not in RFC 8785 canonical form (it was rewritten)"
            self.add(Finding("canonical", message, index=index))
        differing = [c for name, c in _COLUMNS.items() if entry.get(name) != row[c]]
        if _announcement_id(entry) != row.get("announcement_id"):
            differing.append("announcement_id")
        if differing:
            message = f"the row's {', '.join(differing)} disagree with entry_json"
            self.add(Finding("columns", message, index=index))
        if entry.get("kind") == "key.rotated":
            self._rotation(index, entry.get("data"))

    # -- heads --------------------------------------------------------------------------------

    def settle(self, size: int | None) -> None:
        """Check the heads up to `size` entries against the frontier (None: every head left;
        their roots are known only if they are the frontier's size)."""
        while self.next_head is not None and (size is None or self.next_head["tree_size"] <= size):
            self._head(self.next_head)
            self.next_head = next(self.heads, None)

    def _head(self, row: Row) -> None:
        self.report.heads += 1
        name = _described(row)
        try:
            head = ledger.head_of(row)
            root = head.root()
            if head.tree_size < 0:
                raise ValueError("tree_size is negative")
        except ValueError as error:
            self.add(Finding("head", f"malformed: {error}", head=name))
            return
        if head.log_id is not None and head.log_id != self.report.log_id:
            message = f"it names log {head.log_id}, not this log ({self.report.log_id})"
            self.add(Finding("head", message, head=name))
        key = self.keys.get(head.key_id)
        signed = key is not None and verify_tree_head(head, key)
        if not signed:
            message = (
                f"signed by key {head.key_id}, which service_keys does not hold"
                if key is None
                else f"the signature does not verify with key {head.key_id}"
            )
            self.add(Finding("signature", message, head=name))
        if head.tree_size != self.frontier.size or self.gap_at is not None:
            self._beyond(head.tree_size, name)
            return
        if root == self.frontier.root():
            if signed and self.first_bad_size is None:
                self.last_good_size = head.tree_size
            return
        self.add(Finding("root", "its root is not the root of the entries it covers", head=name))
        if signed and self.first_bad_size is None:
            self.first_bad_size = head.tree_size

    def _beyond(self, size: int, name: str) -> None:
        """A head whose root cannot be recomputed: entries it covers are missing."""
        if self.gap_at is not None and size > self.gap_at:
            self.unchecked_heads += 1
            return
        first = self.frontier.size
        message = f"it covers {size} entries but the log holds {first}"
        self.add(Finding("sequence", message, index=first, head=name))

    def finish(self) -> AuditReport:
        self.settle(None)
        self.finish_keys()
        if self.unchecked_heads:
            message = (
                f"{self.unchecked_heads} heads cover entry {self.gap_at}, which is missing: "
                "their roots cannot be recomputed"
            )
            self.add(Finding("root", message))
        if self.first_bad_size is not None:
            self.report.suspect_range = (self.last_good_size, self.first_bad_size - 1)
        return self.report


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def audit_log(store: Store, progress: Progress | None = None, *, batch: int = BATCH) -> AuditReport:
    """Check the whole log in one read snapshot, `batch` entries at a time; `progress(done,
    total)` after each batch."""
    with store.read() as tx:
        audit = _Audit(tx, batch)
        audit.settle(0)
        start = 0
        while rows := tx.log_entries(start, batch):
            for row in rows:
                audit.entry(row)
            start = int(rows[-1]["idx"]) + 1
            if progress is not None:
                progress(audit.report.entries, audit.report.log_size)
        return audit.finish()
