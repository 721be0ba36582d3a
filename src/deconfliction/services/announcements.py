"""What the line tells parties when notifications and conflicts change, in the same transaction.

Each change puts items in the inbox of the parties that must acknowledge it and writes the
service's system messages: a conflict detected or resolved, a notification that conflicts with
yours revised or cancelled, a late notification. A conflict's messages go to exactly the
conflict's two parties, so they are announcements: the conflict's own log entry records them.
"""

from __future__ import annotations

from datetime import datetime

from deconfliction.domain.rules import Rules
from deconfliction.domain.times import format_instant
from deconfliction.services import inbox
from deconfliction.services.messages import (
    SystemMessage,
    compose_system_message,
    system_message,
)
from deconfliction.services.ports import Row, Transaction


def conflict_detected(tx: Transaction, conflict: Row, rules: Rules, now: datetime) -> SystemMessage:
    """Both parties must acknowledge a new conflict (urgently); the message that tells them,
    for the conflict's entry to record (messages.SystemMessage)."""
    _require_conflict_ack(tx, conflict, 1, rules, now)
    return compose_system_message(
        conflict["mechanism_id"],
        rules,
        to=[conflict["party_a"], conflict["party_b"]],
        body=f"Conflict {conflict['id']} detected between notifications "
        f"{conflict['notification_a']} and {conflict['notification_b']}. "
        "Acknowledge it and talk it through on this line.",
        references={"conflicts": [conflict["id"]]},
        now=now,
        priority="urgent",
    )


def conflict_changed(
    tx: Transaction, conflict: Row, revision: int, rules: Rules, now: datetime
) -> None:
    """A changed overlap is a new revision each party must acknowledge again."""
    _require_conflict_ack(tx, conflict, revision, rules, now)


def _require_conflict_ack(
    tx: Transaction, conflict: Row, revision: int, rules: Rules, now: datetime
) -> None:
    for party, other in (("party_a", "party_b"), ("party_b", "party_a")):
        inbox.require_ack(
            tx,
            mechanism_id=conflict["mechanism_id"],
            party_id=conflict[party],
            subject_id=conflict["id"],
            version=revision,
            sender_party=conflict[other],
            due=inbox.deadline(rules, now, urgent=True),
            at=format_instant(now),
        )


def conflict_resolved(
    tx: Transaction, conflict: Row, because: str, rules: Rules, now: datetime
) -> SystemMessage:
    """The conflict's acknowledgements are no longer due; the message that tells both parties,
    for the resolution's entry to record."""
    inbox.close(tx, conflict["id"], format_instant(now), f"resolved: {because}")
    return compose_system_message(
        conflict["mechanism_id"],
        rules,
        to=[conflict["party_a"], conflict["party_b"]],
        body=f"Conflict {conflict['id']} resolved: {because}.",
        references={"conflicts": [conflict["id"]]},
        now=now,
    )


def notification_changed(
    tx: Transaction,
    notification: Row,
    *,
    change: str,
    rules: Rules,
    conflicting: list[str],
    now: datetime,
) -> None:
    """After `created`, `revised` or `cancelled`: who must acknowledge it, and who is told.

    Under full disclosure every other member sees, so acknowledges, each version. Parties whose
    notifications conflict with it are told of a revision or a cancellation; a late notification
    is announced to every party that can see it.
    """
    owner, mechanism_id = notification["party_id"], notification["mechanism_id"]
    at = format_instant(now)
    viewers = (
        [m["id"] for m in tx.members(mechanism_id) if m["id"] != owner]
        if rules.disclosure == "full"
        else []
    )
    if change == "cancelled":
        inbox.close(tx, notification["id"], at, "cancelled by its owner")
    else:
        for party in viewers:
            inbox.require_ack(
                tx,
                mechanism_id=mechanism_id,
                party_id=party,
                subject_id=notification["id"],
                version=notification["version"],
                sender_party=owner,
                due=inbox.deadline(rules, now, urgent=False),
                at=at,
            )
    others = sorted(set(conflicting) - {owner})
    if change in ("revised", "cancelled") and others:
        system_message(
            tx,
            mechanism_id,
            rules,
            to=others,
            body=f"Notification {notification['id']}, which conflicts with yours, was {change} "
            f"(version {notification['version']}).",
            references={"notifications": [notification["id"]]},
            now=now,
        )
    if change != "cancelled" and notification["late"]:
        audience = sorted(set(viewers) | set(others))
        system_message(
            tx,
            mechanism_id,
            rules,
            to=audience,
            body=f"Late notification {notification['id']} (version {notification['version']}): "
            "it was given with less notice than the mechanism's minimum.",
            references={"notifications": [notification["id"]]},
            now=now,
            priority="urgent",
        )
