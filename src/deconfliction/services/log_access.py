"""Reading the transparency log: the newest signed head and the service's keys, consistency
proofs, receipts for the entries a caller may see, and the record of every operator read.

A party sees the entries it is in the audience of; the operator sees every entry. Tree heads,
sizes and keys are public to every authenticated caller: they reveal nothing of any entry, and
parties compare them with each other to detect a log that shows them different histories.
"""

from __future__ import annotations

import json
from typing import Any

from deconfliction.domain.times import format_instant
from deconfliction.errors import InvalidInput, NotFound
from deconfliction.proof.tree_head import SignedTreeHead
from deconfliction.services import ledger
from deconfliction.services.context import Actor, Context
from deconfliction.services.ports import Transaction

MAX_RECEIPTS = 100
MAX_PATH = 2_000


def _keys_view(tx: Transaction) -> list[dict[str, Any]]:
    views = []
    for row in tx.service_keys():
        announcement = None
        if row["announced_at_idx"] is not None:
            entry = tx.log_entry(row["announced_at_idx"])
            announcement = None if entry is None else json.loads(entry["entry_json"])["data"]
        views.append(
            {
                "key_id": row["key_id"],
                "public_key": row["public_key"],
                "activated_at": row["activated_at"],
                "retired_at": row["retired_at"],
                "announcement": announcement,
            }
        )
    return views


def key_rotations(tx: Transaction) -> list[dict[str, Any]]:
    """Every announcement of a new key, signed by the old one, in order: what a verifier who
    trusts the first key needs to trust the later ones."""
    return [k["announcement"] for k in _keys_view(tx) if k["announcement"] is not None]


def _head_view(tx: Transaction, head: SignedTreeHead) -> dict[str, Any]:
    keys = _keys_view(tx)
    current = next((k for k in keys if k["key_id"] == head.key_id), None)
    return {
        "log_id": head.log_id,
        "tree_head": head.to_json(),
        "key_id": head.key_id,
        "public_key": None if current is None else current["public_key"],
        "keys": keys,
    }


def covering_head(ctx: Context, size: int | None) -> SignedTreeHead:
    """The newest head if it covers the first `size` entries (None: the whole log), else a head
    over the whole log signed now."""
    with ctx.store.read() as tx:
        head = ledger.latest_head(tx)
        wanted = tx.log_size() if size is None else size
    if head is not None and head.tree_size >= wanted:
        return head
    with ctx.store.write() as tx:
        head = ledger.latest_head(tx)
        if head is None or head.tree_size < max(wanted, tx.log_size()):
            head = ledger.sign_head(tx, ctx.keys.current, ctx.now())
        return head


def newest_head(ctx: Context, actor: Actor) -> dict[str, Any]:
    """The newest signed tree head, the key that signed it and every key the log has used."""
    head = covering_head(ctx, 0)
    with ctx.store.read() as tx:
        return _head_view(tx, head)


def sign_now(ctx: Context, actor: Actor) -> dict[str, Any]:
    """Sign a head over the whole log now if it grew since the newest head; that head."""
    with ctx.store.write() as tx:
        ledger.sign_if_grown(tx, ctx.keys.current, ctx.now())
        head = ledger.latest_head(tx)
        assert head is not None
        return _head_view(tx, head)


def sign_if_grown(ctx: Context) -> None:
    """The background job: a new head whenever the log grew since the newest one, signed by one
    process at a time (one that finds another signing leaves it to that one)."""
    with ctx.store.write() as tx:
        if tx.claim_step("log heads"):
            ledger.sign_if_grown(tx, ctx.keys.current, ctx.now())


def consistency(ctx: Context, actor: Actor, *, first: int, second: int) -> dict[str, Any]:
    """The RFC 9162 consistency proof between two sizes of the log (both signed sizes or not)."""
    with ctx.store.read() as tx:
        head = ledger.latest_head(tx)
        newest = 0 if head is None else head.tree_size
        if second > newest:
            raise InvalidInput.one(
                "second", f"must be at most {newest}, the size of the newest signed head"
            )
        if first > second:
            raise InvalidInput.one("first", "must not be larger than second")
        proof = ledger.tree(tx).consistency_proof(first, second)
        return {
            "log_id": tx.log_id(),
            "first": first,
            "second": second,
            "proof": [ledger.b64(node) for node in proof],
        }


def _may_see(tx: Transaction, actor: Actor, index: int) -> bool:
    return actor.is_operator or actor.party_id in tx.log_audience(index)


def receipt_of(ctx: Context, actor: Actor, *, index: int) -> dict[str, Any]:
    """The receipt of one entry the caller may see, against the newest head."""
    with ctx.store.read() as tx:
        if tx.log_entry(index) is None or not _may_see(tx, actor, index):
            raise NotFound(f"no log entry {index}")
    head = covering_head(ctx, index + 1)
    with ctx.store.read() as tx:
        return ledger.receipt(tx, index, head)


def receipts(ctx: Context, actor: Actor, *, after: int, limit: int) -> dict[str, Any]:
    """The caller's entries after an index, each with its receipt, all against one head (signed
    now if the newest does not cover the whole log)."""
    head = covering_head(ctx, None)
    with ctx.store.read() as tx:
        rows = tx.log_entries_seen_by(actor.party_id, after, min(limit, MAX_RECEIPTS) + 1)
        rows = [row for row in rows if row["idx"] < head.tree_size]
        page = rows[: min(limit, MAX_RECEIPTS)]
        log = ledger.tree(tx)
        more = len(rows) > len(page)
        return {
            "receipts": [ledger.receipt(tx, row["idx"], head, log) for row in page],
            "tree_head": head.to_json(),
            "next_after": page[-1]["idx"] if more else None,
        }


def _read_audience(tx: Transaction, path: str) -> tuple[str | None, list[str]]:
    """Whose data a path reads: (mechanism, parties), from the ids it names."""
    parts = [p for p in path.split("/") if p]
    mechanism_id: str | None = None
    parties: set[str] = set()
    for previous, part in zip(parts, parts[1:], strict=False):
        if previous == "mechanisms" and tx.mechanism(part) is not None:
            mechanism_id = part
            parties.update(m["id"] for m in tx.members(part))
        elif previous == "parties" and tx.party(part) is not None:
            parties.add(part)
        elif "_" in part:
            for row in tx.log_entries_of_subject(part)[:1]:
                parties.update(tx.log_audience(row["idx"]))
                mechanism_id = mechanism_id or row["mechanism_id"]
    return mechanism_id, sorted(parties)


def operator_read(ctx: Context, actor: Actor, *, path: str, query: str) -> None:
    """Log that the operator read something; the parties whose data it is see the entry."""
    with ctx.store.write() as tx:
        mechanism_id, audience = _read_audience(tx, path)
        ledger.record(
            tx,
            "operator.read",
            at=format_instant(ctx.now()),
            mechanism_id=mechanism_id,
            subject_id=None,
            audience=audience,
            by=actor,
            data={"path": path[:MAX_PATH], "query": query[:MAX_PATH]},
        )
