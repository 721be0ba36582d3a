"""The transparency log: every state change appended, in its own transaction, as a salted leaf of
an RFC 9162 Merkle tree; tree heads signed with the service's key; receipts that prove an entry.

An entry is a small JSON object (RFC 8785 canonical form in the leaf):

    {"v": 1, "kind": "notification.created", "at": "…Z", "mechanism_id": "mec_…",
     "subject_id": "ntf_…", "by": {"token_id": "tok_…", "party_id": "pty_…"} | null,
     "data": {...}, "content_sha256": "<hex of SHA-256 of the content's RFC 8785 JSON>"}

`by` is null when the service itself acted (the scheduler, the live stream). What an entry is
about in full (a notification's volumes, a message's body) is bound by `content_sha256`, so the
entry stays small and the content is proved by whoever holds it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from nacl.signing import SigningKey

from deconfliction.domain.times import format_instant
from deconfliction.proof import canonical as canonical_json
from deconfliction.proof.entries import canonical, new_salt
from deconfliction.proof.merkle import MerkleTree, leaf_hash
from deconfliction.proof.tree_head import SignedTreeHead, key_id, new_log_id, sign_tree_head
from deconfliction.services.context import Actor, ServiceKeys
from deconfliction.services.ports import Row, Transaction

ENTRY_VERSION = 1
MIN_CACHED_SUBTREE = 16


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Leaves:
    """The log's leaf hashes, read through the transaction (a merkle.LeafSource). Its size is
    read once: a tree is made for one step, after the entries it covers are appended."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.known_size: int | None = None
        self.read: dict[tuple[int, int], list[bytes]] = {}  # a root and a proof share blocks

    def size(self) -> int:
        if self.known_size is None:
            self.known_size = self.tx.log_size()
        return self.known_size

    def leaves(self, start: int, end: int) -> list[bytes]:
        if (start, end) not in self.read:
            self.read[start, end] = self.tx.log_leaf_hashes(start, end)
        return self.read[start, end]


class _Subtrees:
    """The cached hashes of complete subtrees, in the store (a merkle.SubtreeCache), remembered
    for the transaction: a head and a receipt's proof walk the same subtrees."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.seen: dict[tuple[int, int], bytes] = {}

    def get(self, start: int, size: int) -> bytes | None:
        digest = self.seen.get((start, size))
        if digest is None:
            digest = self.tx.log_subtree(start, size)
            if digest is not None:
                self.seen[start, size] = digest
        return digest

    def put(self, start: int, size: int, digest: bytes) -> None:
        self.tx.put_log_subtree(start, size, digest)
        self.seen[start, size] = digest

    def prefetch(self, wanted: list[tuple[int, int]]) -> None:
        """Read these subtrees together (those stored), so the walk that needs them reads none."""
        missing = [key for key in wanted if key not in self.seen]
        if missing:
            self.seen.update(self.tx.log_subtrees(missing))


class _Tree(MerkleTree):
    """The log's tree, whose subtree cache is the store's."""

    cache: _Subtrees

    def prefetch(self, size: int, index: int | None = None) -> None:
        """Read at once the stored subtrees a root of `size` and the proof of `index` need."""
        self.cache.prefetch(self.subtrees_read_by(size, index))


def tree(tx: Transaction) -> _Tree:
    """The log's Merkle tree as the transaction sees it (its deferred appends written)."""
    tx.flush()
    return _Tree(_Leaves(tx), _Subtrees(tx), min_cached_size=MIN_CACHED_SUBTREE)


def content_sha256(content: Any) -> str:
    """The hex SHA-256 of the content's RFC 8785 canonical JSON."""
    return hashlib.sha256(canonical_json.dumps(content)).hexdigest()


def actor_of(actor: Actor | None) -> dict[str, Any] | None:
    if actor is None:
        return None
    return {"token_id": actor.token_id, "party_id": actor.party_id}


def record(
    tx: Transaction,
    kind: str,
    *,
    at: str,
    mechanism_id: str | None,
    subject_id: str | None,
    audience: list[str],
    by: Actor | None,
    data: Mapping[str, Any],
    content: Any = None,
    content_digest: str | None = None,
    announcement_id: str | None = None,
) -> int:
    """Append one entry, visible to `audience` (the operator sees every entry); its index.

    `content`, what the entry is about in full, is bound by its hash; or pass that hash as
    `content_digest`, worked out before. `announcement_id` names the system message the entry
    records besides its subject (found by that id too). Appends the transaction deferred are
    written first, so entries keep the order they were made in.
    """
    tx.flush()
    if content is not None:
        content_digest = content_sha256(content)
    entry: dict[str, Any] = {
        "v": ENTRY_VERSION,
        "kind": kind,
        "at": at,
        "mechanism_id": mechanism_id,
        "subject_id": subject_id,
        "by": actor_of(by),
        "data": dict(data),
    }
    if content_digest is not None:
        entry["content_sha256"] = content_digest
    text = canonical(entry)
    salt = new_salt()
    index = tx.append_log_entry(
        {
            "kind": kind,
            "mechanism_id": mechanism_id,
            "subject_id": subject_id,
            "announcement_id": announcement_id,
            "entry_json": text.decode("utf-8"),
            "salt": salt,
            "leaf_hash": leaf_hash(salt + text),
            "created_at": at,
        },
        audience,
    )
    if (index + 1) % MIN_CACHED_SUBTREE == 0:  # the entry completes a cached subtree
        tree(tx).extend(index, index + 1)
    return index


def log_id(tx: Transaction, at: datetime) -> str:
    """The log's id, given now if the log has none yet (its first head names it)."""
    return tx.log_id() or tx.name_log(new_log_id(), format_instant(at))


def sign_head(
    tx: Transaction, key: SigningKey, at: datetime, log: MerkleTree | None = None
) -> SignedTreeHead:
    """Sign and store the head of the whole log as the transaction sees it."""
    log = log or tree(tx)
    size = log.source.size()
    return _stored(tx, sign_tree_head(key, log_id(tx, at), size, log.root(size), at))


def _stored(tx: Transaction, head: SignedTreeHead) -> SignedTreeHead:
    tx.insert_log_head(head.to_json())
    return head


HEAD_COLUMNS = ("log_id", "tree_size", "root_hash", "timestamp", "key_id", "signature")


def head_of(row: Row) -> SignedTreeHead:
    return SignedTreeHead.from_json({name: row[name] for name in HEAD_COLUMNS})


def latest_head(tx: Transaction) -> SignedTreeHead | None:
    tx.flush()
    row = tx.latest_log_head()
    return None if row is None else head_of(row)


def receipt(
    tx: Transaction, index: int, head: SignedTreeHead, log: MerkleTree | None = None
) -> dict[str, Any]:
    """The entry at `index`, its salt and leaf hash, and its inclusion proof against `head`."""
    if index >= head.tree_size:
        raise ValueError(f"entry {index} is not in a tree of {head.tree_size} entries")
    return _receipt(tx, index, head, (log or tree(tx)).inclusion_proof(index, head.tree_size))


def _receipt(
    tx: Transaction, index: int, head: SignedTreeHead, proof: list[bytes]
) -> dict[str, Any]:
    row = tx.log_entry(index)
    if row is None:
        raise ValueError(f"entry {index} is not in the log")
    return {
        "leaf_index": index,
        "entry": json.loads(row["entry_json"]),
        "salt": b64(bytes(row["salt"])),
        "leaf_hash": b64(bytes(row["leaf_hash"])),
        "tree_head": head.to_json(),
        "inclusion_proof": [b64(node) for node in proof],
    }


def receipt_now(tx: Transaction, key: SigningKey, index: int, at: datetime) -> dict[str, Any]:
    """A receipt against the newest head if it covers the entry, else against a head signed now
    (whose root is the one the entry's proof leads to: one walk of the tree for both). An entry
    the transaction itself appended is in no stored head, so the newest is not even read.

    A write's receipt is made at its end, holding the turn every writer waits for (on
    PostgreSQL the log lock), so the subtrees its root and proof need are read in one go.
    """
    log = tree(tx)
    head = None if tx.appended_log_entry(index) else latest_head(tx)
    if head is None or head.tree_size <= index:
        size = log.source.size()
        log.prefetch(size, index)
        root, proof = log.root_and_inclusion_proof(index, size)
        head = sign_tree_head(key, log_id(tx, at), size, root, at)
        return _receipt(tx, index, _stored(tx, head), proof)
    log.prefetch(head.tree_size, index)
    return receipt(tx, index, head, log)


def sign_if_grown(tx: Transaction, key: SigningKey, at: datetime) -> SignedTreeHead | None:
    """Sign a new head if the log has entries the newest head does not cover."""
    tx.flush()
    newest = tx.latest_log_head()
    if newest is not None and newest["tree_size"] >= tx.log_size():
        return None
    return sign_head(tx, key, at)


def register_key(tx: Transaction, key: SigningKey, at: datetime) -> bool:
    """Record the key's public half if the store does not know it yet (the first key of a log)."""
    known = {row["key_id"] for row in tx.service_keys()}
    if key_id(key.verify_key) in known:
        return False
    tx.add_service_key(
        {
            "key_id": key_id(key.verify_key),
            "public_key": b64(bytes(key.verify_key)),
            "activated_at": format_instant(at),
            "announced_at_idx": None,
        }
    )
    return True


def with_receipt(
    tx: Transaction, keys: ServiceKeys, view: dict[str, Any], index: int, at: datetime
) -> dict[str, Any]:
    """A write use case's response with the receipt of its entry."""
    return {**view, "receipt": receipt_now(tx, keys.current, index, at)}


def with_earlier_receipt(
    tx: Transaction,
    keys: ServiceKeys,
    view: dict[str, Any],
    kind: str,
    subject_id: str,
    at: datetime,
    **data: Any,
) -> dict[str, Any]:
    """A repeat of a change already made changes nothing: the view, with the receipt of the
    entry that made the change (none if it was made before the log existed)."""
    index = find(tx, kind, subject_id, **data)
    return view if index is None else with_receipt(tx, keys, view, index, at)


def find(tx: Transaction, kind: str, subject_id: str, **data: Any) -> int | None:
    """The index of the first entry of `kind` about `subject_id` whose data has these values."""
    tx.flush()
    for row in tx.log_entries_of_subject(subject_id):
        if row["kind"] != kind:
            continue
        entry = json.loads(row["entry_json"])
        if all(entry["data"].get(name) == value for name, value in data.items()):
            return int(row["idx"])
    return None


def logged(
    tx: Transaction,
    keys: ServiceKeys,
    view: dict[str, Any],
    kind: str,
    *,
    at: datetime,
    by: Actor | None,
    subject_id: str | None,
    audience: list[str],
    data: Mapping[str, Any],
    mechanism_id: str | None = None,
) -> dict[str, Any]:
    """Log a change that has no event of its own and answer with the view and its receipt."""
    index = record(
        tx,
        kind,
        at=format_instant(at),
        mechanism_id=mechanism_id,
        subject_id=subject_id,
        audience=audience,
        by=by,
        data=data,
    )
    return with_receipt(tx, keys, view, index, at)
