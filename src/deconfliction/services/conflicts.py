"""Conflict use cases: recompute a notification's conflicts in its transaction; list, read, ack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deconfliction.domain.conflicts import Placed
from deconfliction.domain.rules import Rules
from deconfliction.domain.times import format_instant
from deconfliction.domain.volumes import Box
from deconfliction.errors import InvalidInput, NotFound
from deconfliction.services import (
    acknowledgements,
    announcements,
    conflict_search,
    inbox,
    messages,
    stored_json,
)
from deconfliction.services.conflict_search import Ahead
from deconfliction.services.context import Actor, Context, RequestKey, new_id, once
from deconfliction.services.events import record_event
from deconfliction.services.messages import SystemMessage
from deconfliction.services.ports import Row, Transaction
from deconfliction.services.views import conflict_view, conflict_views

CONFLICT_STATES = ("open", "resolved")
MAX_LIST = 1_000


def recompute(
    tx: Transaction,
    *,
    notification: Row,
    placed: list[tuple[Placed, Box]],
    rules: Rules,
    now: datetime,
    because: str = "",
    new: bool = False,
    ahead: Ahead | None = None,
) -> list[str]:
    """Bring the notification's open conflicts in line with its current volumes; the parties of
    its open conflicts afterwards (both sides of each).

    New conflicts are recorded, changed overlaps updated, vanished ones resolved with `because`
    (a `new` notification has none to resolve, so none are looked for).
    The caller's transaction makes this atomic with the change that caused it; a search made
    `ahead` of it is brought up to date in it (conflict_search.py).
    """
    at = format_instant(now)
    found = conflict_search.found_in_turn(
        tx,
        mechanism_id=notification["mechanism_id"],
        party_id=notification["party_id"],
        placed=placed,
        rules=rules,
        ahead=ahead,
    )
    nid = notification["id"]
    existing = {
        (row["notification_a"], row["notification_b"]): row
        for row in ([] if new else tx.open_conflicts_of(nid))
    }
    open_afterwards: list[str] = []
    for each in found:
        finding, pair, overlaps = each.finding, each.pair, each.overlaps_json
        audience = [finding.party_a, finding.party_b]
        open_afterwards += audience
        row = existing.pop(pair, None)
        if row is None:
            conflict_id = new_id("cfl")
            conflict = {
                "id": conflict_id,
                "mechanism_id": notification["mechanism_id"],
                "notification_a": finding.notification_a,
                "party_a": finding.party_a,
                "notification_b": finding.notification_b,
                "party_b": finding.party_b,
                "overlaps_json": overlaps,
                "detected_at": at,
                "updated_at": at,
            }
            tx.insert_conflict(conflict)
            told = announcements.conflict_detected(tx, conflict, rules, now)
            _announced(tx, conflict, "conflict.detected", {"conflict_id": conflict_id}, told)
        elif not _same_overlaps(row["overlaps_json"], overlaps):
            tx.update_conflict_overlaps(row["id"], overlaps, at)
            announcements.conflict_changed(tx, row, row["revision"] + 1, rules, now)
            record_event(
                tx,
                notification["mechanism_id"],
                "conflict.updated",
                row["id"],
                audience,
                {"conflict_id": row["id"]},
                at,
            )
    for row in existing.values():
        resolve(tx, row, rules=rules, now=now, because=because)
    return open_afterwards


def _same_overlaps(stored: str, drawn: str) -> bool:
    """Whether the stored overlaps read as those drawn now. Their texts usually match; a text
    written by another release (stored_json.py) may say the same in other digits."""
    return stored == drawn or stored_json.loads(stored) == stored_json.loads(drawn)


def resolve(tx: Transaction, row: Row, *, rules: Rules, now: datetime, because: str) -> None:
    at = format_instant(now)
    tx.resolve_conflict(row["id"], at, because)
    told = announcements.conflict_resolved(tx, row, because, rules, now)
    _announced(
        tx, row, "conflict.resolved", {"conflict_id": row["id"], "resolution": because}, told
    )


def _announced(
    tx: Transaction, conflict: Row, kind: str, payload: dict[str, Any], told: SystemMessage
) -> None:
    """The conflict's event, whose entry also records the message that tells both parties; then
    that message, delivered."""
    recorded = record_event(
        tx,
        conflict["mechanism_id"],
        kind,
        conflict["id"],
        [conflict["party_a"], conflict["party_b"]],
        payload,
        told.row["created_at"],
        announcement=told,
    )
    messages.deliver_system_message(tx, told, logged_with=recorded)


def list_conflicts(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str | None = None,
    state: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Conflicts that involve the caller's party (all of them for the operator)."""
    if state is not None and state not in CONFLICT_STATES:
        raise InvalidInput.one("state", f"must be one of {', '.join(CONFLICT_STATES)}")
    with ctx.store.read() as tx:
        rows = tx.conflicts(
            party=actor.party_id, mechanism_id=mechanism_id, state=state, limit=min(limit, MAX_LIST)
        )
        views = conflict_views(tx, rows, actor)
    if actor.party_id is not None:
        inbox.mark_delivered(ctx, actor.party_id, [v["id"] for v in views], "fetched")
    return views


def _visible(tx: Transaction, actor: Actor, conflict_id: str) -> Row:
    row = tx.conflict(conflict_id)
    if row is None or (
        actor.party_id is not None and actor.party_id not in (row["party_a"], row["party_b"])
    ):
        raise NotFound(f"no conflict {conflict_id}")
    return row


def get_conflict(ctx: Context, actor: Actor, *, conflict_id: str) -> dict[str, Any]:
    """One conflict; fetching it counts as its delivery to the caller's party."""
    with ctx.store.read() as tx:
        view = conflict_view(tx, _visible(tx, actor, conflict_id), actor)
    if actor.party_id is not None:
        inbox.mark_delivered(ctx, actor.party_id, [conflict_id], "fetched")
    return view


def acknowledge_conflict(
    ctx: Context, actor: Actor, *, conflict_id: str, request: RequestKey | None = None
) -> dict[str, Any]:
    """Record that the caller's party received and read the conflict's current revision."""
    actor.require_party()
    with ctx.store.write() as tx:
        row = _visible(tx, actor, conflict_id)
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            return acknowledgements.acknowledge(
                tx,
                actor,
                subject_type="conflict",
                subject_id=conflict_id,
                version=row["revision"],
                mechanism_id=row["mechanism_id"],
                audience=[row["party_a"], row["party_b"]],
                keys=ctx.keys,
                now=moment,
            )

        return once(tx, actor, request, now, run, mechanism_id=row["mechanism_id"])
