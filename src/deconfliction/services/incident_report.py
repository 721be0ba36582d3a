"""An incident's report: a self-contained bundle a third party can check offline.

The timeline is every log entry the caller may see about the incident, the items it links and
the messages that refer to any of them, in log order. Each comes with its receipt (entry, salt,
inclusion proof) against one signed tree head, and, where the caller may see it, the exact content
whose RFC 8785 SHA-256 the entry carries. The bundle is a `deconfliction-receipts/v1` file.
"""

from __future__ import annotations

import json
from typing import Any

from deconfliction.domain.disclosure import sees_whole
from deconfliction.domain.times import format_instant
from deconfliction.proof.tree_head import SignedTreeHead
from deconfliction.services import incidents, ledger, log_access, messages, notifications
from deconfliction.services.context import Actor, Context, rules_of
from deconfliction.services.ports import Row, Transaction

FORMAT = "deconfliction-receipts/v1"
MAX_REFERRING = 1_000
MAX_TIMELINE = 10_000

# One human line per kind of entry; {by} is who acted, {party} whom an entry is about.
SUMMARIES = {
    "notification.created": "notification {subject} version {version} created by {by}",
    "notification.revised": "notification {subject} revised to version {version} by {by}",
    "notification.cancelled": "notification {subject} cancelled by {by}",
    "conflict.detected": "conflict {subject} detected",
    "conflict.updated": "conflict {subject}: the overlap changed",
    "conflict.resolved": "conflict {subject} resolved: {resolution}",
    "message.sent": "{priority} {type} message {subject} from {sender} to {recipients}",
    "incident.reported": "incident {subject} ({kind}) reported by {by}",
    "incident.under_review": "incident {subject} taken under review by {by}",
    "incident.closed": "incident {subject} closed with a finding by {by}",
}
SUMMARIES_BY_STEP = {
    "acknowledged": "{noun} {subject} version {version} acknowledged (received and read) by "
    "{party}",
    "delivered": "{noun} {subject} version {version} delivered to {party} ({via})",
}


class _Fields(dict[str, Any]):
    """Template values; a field an entry lacks reads as "?"."""

    def __missing__(self, key: str) -> str:
        return "?"


def _summary(entry: dict[str, Any], names: dict[str, str]) -> str:
    """One human line for an entry, parties named by their codes."""

    def name(party: str | None) -> str:
        return "the service" if party is None else names.get(party, party)

    by, data = entry["by"], entry["data"]
    noun, _, step = entry["kind"].partition(".")
    template = SUMMARIES.get(entry["kind"]) or SUMMARIES_BY_STEP.get(step, "{kind} {subject}")
    actor = "the service" if by is None else "the operator" if by["party_id"] is None else ""
    fields = _Fields(
        data,
        kind=data.get("kind", entry["kind"]),
        noun=noun,
        subject=entry["subject_id"],
        by=actor or name(by["party_id"]),
        party=name(data.get("party_id")),
        sender=name(data.get("from")),
        recipients=", ".join(name(p) for p in data.get("to", [])),
    )
    summary = template.format_map(fields)
    announced = data.get("announcement")
    if announced is not None:
        told = ", ".join(name(p) for p in announced.get("to", []))
        summary += f"; {told} told in message {announced.get('message_id', '?')}"
    return summary


def _content(tx: Transaction, actor: Actor, entry: dict[str, Any], policy: str) -> Any:
    """The content the entry's hash binds, if it has one and the caller may see it whole."""
    if "content_sha256" not in entry:
        return None
    kind, subject = entry["kind"], entry["subject_id"]
    if kind in ("notification.created", "notification.revised"):
        row = tx.notification(subject)
        if row is None or not sees_whole(
            viewer_party=actor.party_id, owner_party=row["party_id"], policy=policy
        ):
            return None
        version = entry["data"].get("version")
        revision = next((r for r in tx.revisions(subject) if r["version"] == version), None)
        return None if revision is None else notifications.content_of({**revision, "id": subject})
    announced = entry["data"].get("announcement")
    if kind == "message.sent" or announced is not None:
        message = tx.message(subject if announced is None else announced["message_id"])
        return None if message is None else messages.content_of(message)
    incident = tx.incident(subject)
    if incident is None:
        return None
    if kind == "incident.reported":
        return incidents.content_of(tx, incident)
    if kind == "incident.closed":
        return incidents.finding_content(incident)
    return None


def _entries(tx: Transaction, actor: Actor, incident: Row) -> tuple[list[Row], bool]:
    """The log entries of the timeline the caller may see, and whether a limit cut them."""
    items = [incident["id"], *(link["subject_id"] for link in tx.incident_links(incident["id"]))]
    referring = tx.messages_referring_to(incident["mechanism_id"], items, MAX_REFERRING + 1)
    subjects = sorted({*items, *referring[:MAX_REFERRING]})
    rows = tx.log_entries_seen_by(actor.party_id, -1, MAX_TIMELINE + 1, subjects)
    cut = len(referring) > MAX_REFERRING or len(rows) > MAX_TIMELINE
    return rows[:MAX_TIMELINE], cut


def _item(tx: Transaction, actor: Actor, row: Row, names: dict[str, str], policy: str) -> Row:
    entry = json.loads(row["entry_json"])
    item = {
        "at": entry["at"],
        "kind": entry["kind"],
        "subject_id": entry["subject_id"],
        "summary": _summary(entry, names),
        "leaf_index": row["idx"],
    }
    content = _content(tx, actor, entry, policy)
    if content is not None:
        item["content"] = content
    return item


def _build(
    tx: Transaction, actor: Actor, incident: Row, head: SignedTreeHead, at: str
) -> dict[str, Any]:
    rows, truncated = _entries(tx, actor, incident)
    # Entries logged after the head was signed belong to a later report.
    rows = [row for row in rows if row["idx"] < head.tree_size]
    mechanism = tx.mechanism(incident["mechanism_id"])
    assert mechanism is not None
    policy = rules_of(mechanism).disclosure
    names = {p["id"]: p["code"] for p in tx.members(incident["mechanism_id"])}
    log = ledger.tree(tx)
    return {
        "format": FORMAT,
        "incident": incidents.incident_view(tx, incident),
        "timeline": [_item(tx, actor, row, names, policy) for row in rows],
        "truncated": truncated,
        "receipts": [ledger.receipt(tx, row["idx"], head, log) for row in rows],
        "tree_heads": [head.to_json()],
        "consistency": [],
        "key_rotations": log_access.key_rotations(tx),
        "generated_at": at,
    }


def bundle(ctx: Context, actor: Actor, *, incident_id: str) -> dict[str, Any]:
    """The incident's report for the caller: what it may see, each entry with its receipt.

    One head proves every entry: the newest if it covers the whole log, else one signed now.
    """
    with ctx.store.read() as tx:
        incidents.visible_incident(tx, actor, incident_id)
    head = log_access.covering_head(ctx, None)
    with ctx.store.read() as tx:
        incident = incidents.visible_incident(tx, actor, incident_id)
        return _build(tx, actor, incident, head, format_instant(ctx.now()))
