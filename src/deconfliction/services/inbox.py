"""The inbox: what each party must acknowledge — received and read — and by when.

Every message, conflict and (under full disclosure) notification a party can see becomes an
item of that party's inbox with a deadline. The item records when it was first delivered (streamed,
sent by webhook or fetched), when and by which token it was acknowledged, and the trail of
reminders and escalations the scheduler sent when the deadline passed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from deconfliction.domain.rules import Rules
from deconfliction.domain.times import format_instant
from deconfliction.services import ledger
from deconfliction.services.context import Context
from deconfliction.services.ports import Row, Transaction
from deconfliction.services.stored_json import dumps

SUBJECT_TYPES = {"msg": "message", "cfl": "conflict", "ntf": "notification"}


def subject_type_of(subject_id: str) -> str | None:
    """The kind of subject an id names, from its prefix (None for anything else)."""
    return SUBJECT_TYPES.get(subject_id.split("_", 1)[0])


def deadline(rules: Rules, now: datetime, *, urgent: bool) -> datetime:
    """When an item created now must be acknowledged under the mechanism's rules."""
    minutes = rules.urgent_ack_deadline_min if urgent else rules.ack_deadline_min
    return now + timedelta(minutes=minutes)


def require_ack(
    tx: Transaction,
    *,
    mechanism_id: str,
    party_id: str,
    subject_id: str,
    version: int,
    sender_party: str | None,
    due: datetime,
    at: str,
) -> None:
    """The party must acknowledge this version of the subject by `due`.

    A new version of a subject already in the inbox replaces the old one's deadline; the
    acknowledgement of the old version no longer counts.
    """
    subject_type = subject_type_of(subject_id)
    if subject_type is None:
        raise ValueError(f"not an acknowledgeable subject: {subject_id}")
    tx.upsert_inbox_item(
        {
            "mechanism_id": mechanism_id,
            "party_id": party_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "version": version,
            "sender_party": sender_party,
            "created_at": at,
            "deadline_at": format_instant(due),
            "deadline_ts": due.timestamp(),
        }
    )


def settle(
    tx: Transaction, party_id: str, subject_id: str, version: int, token_id: str, at: str
) -> None:
    """The party acknowledged the subject up to `version`: nothing more is due."""
    tx.settle_inbox_item(party_id, subject_id, version, token_id, at)


def close(tx: Transaction, subject_id: str, at: str, reason: str) -> None:
    """No party needs to acknowledge the subject any more (resolved, cancelled)."""
    tx.close_inbox_items(subject_id, at, dumps({"at": at, "action": "closed", "reason": reason}))


def mark_delivered(ctx: Context, party_id: str, subject_ids: list[str], via: str) -> None:
    """Record the first delivery of these subjects to the party; writes only when one is new."""
    mark_delivered_to_each(ctx, {party_id: subject_ids}, via)


def mark_delivered_to_each(ctx: Context, sent: dict[str, list[str]], via: str) -> None:
    """The same for several parties at once: one read, and one write if anything is new."""
    wanted = {
        party: sorted({s for s in subjects if subject_type_of(s) is not None})
        for party, subjects in sent.items()
    }
    with ctx.store.read() as tx:
        fresh = {party: tx.undelivered(party, subjects) for party, subjects in wanted.items()}
    fresh = {party: subjects for party, subjects in fresh.items() if subjects}
    if fresh:
        with ctx.store.write() as tx:
            at = format_instant(ctx.now())
            for party, subjects in fresh.items():
                for item in tx.mark_delivered(party, subjects, via, at):
                    _log_delivery(tx, item, via, at)


def _log_delivery(tx: Transaction, item: Row, via: str, at: str) -> None:
    """The first delivery goes into the log, for the recipient and the sender to prove."""
    ledger.record(
        tx,
        f"{item['subject_type']}.delivered",
        at=at,
        mechanism_id=item["mechanism_id"],
        subject_id=item["subject_id"],
        audience=[item["party_id"], *([item["sender_party"]] if item["sender_party"] else [])],
        by=None,
        data={"party_id": item["party_id"], "version": item["version"], "via": via},
    )


def state_of(item: Row, now: float) -> str:
    """pending → delivered → acknowledged; overdue once the deadline passed unacknowledged."""
    if item["acknowledged_at"] is not None:
        return "acknowledged"
    if item["closed_at"] is not None:
        return "closed"
    if item["deadline_ts"] <= now:
        return "overdue"
    return "delivered" if item["delivered_at"] is not None else "pending"


def item_view(item: Row, now: float) -> dict[str, Any]:
    return {
        "mechanism_id": item["mechanism_id"],
        "party_id": item["party_id"],
        "subject_type": item["subject_type"],
        "subject_id": item["subject_id"],
        "version": item["version"],
        "state": state_of(item, now),
        "deadline": item["deadline_at"],
        "created_at": item["created_at"],
        "delivered_at": item["delivered_at"],
        "delivered_via": item["delivered_via"],
        "acknowledged_at": item["acknowledged_at"],
        "acknowledged_by_token": item["acknowledged_by"],
        "reminded_at": item["reminded_at"],
        "escalated_at": item["escalated_at"],
        "closed_at": item["closed_at"],
        "attempts": json.loads(item["trail_json"]),
    }
