"""What a caller gets to see: notifications and conflicts shaped by the disclosure policy."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from deconfliction.domain.disclosure import sees_whole, visible_sides
from deconfliction.domain.lifecycle import state_at
from deconfliction.domain.times import format_instant, from_epoch
from deconfliction.errors import NotFound
from deconfliction.services.admin import party_view
from deconfliction.services.context import Actor
from deconfliction.services.ports import Row, Transaction


def _acks(tx: Transaction, subject_type: str, subject_id: str) -> list[dict[str, Any]]:
    return [
        {
            "party_id": row["party_id"],
            "version": row["version"],
            "acknowledged_at": row["acknowledged_at"],
            "token_id": row["token_id"],
        }
        for row in tx.acknowledgements(subject_type, subject_id)
    ]


def _party(tx: Transaction, party_id: str) -> dict[str, Any]:
    party = tx.party(party_id)
    assert party is not None
    return party_view(party)


def conflict_view(tx: Transaction, row: Row, actor: Actor) -> dict[str, Any]:
    """A conflict as its parties see it (own side / other side) or as the operator sees it."""
    overlaps = json.loads(row["overlaps_json"])
    view: dict[str, Any] = {
        "id": row["id"],
        "mechanism_id": row["mechanism_id"],
        "state": row["state"],
        "revision": row["revision"],
        "detected_at": row["detected_at"],
        "updated_at": row["updated_at"],
        "resolved_at": row["resolved_at"],
        "resolution": row["resolution"],
    }
    acks = _acks(tx, "conflict", row["id"])
    if actor.party_id is None:
        return {
            **view,
            "notification_a": row["notification_a"],
            "party_a": _party(tx, row["party_a"]),
            "notification_b": row["notification_b"],
            "party_b": _party(tx, row["party_b"]),
            "overlaps": overlaps,
            "acknowledgements": acks,
        }
    viewer_is_a = actor.party_id == row["party_a"]
    if not viewer_is_a and actor.party_id != row["party_b"]:
        raise NotFound(f"no conflict {row['id']}")
    own, other = ("a", "b") if viewer_is_a else ("b", "a")
    return {
        **view,
        "own_notification": row[f"notification_{own}"],
        "other_notification": row[f"notification_{other}"],
        "other_party": _party(tx, row[f"party_{other}"]),
        "overlaps": visible_sides(overlaps, viewer_is_a=viewer_is_a),
        "acknowledgements": acks,
        "acknowledged": any(
            a["party_id"] == actor.party_id and a["version"] == row["revision"] for a in acks
        ),
    }


def may_see(tx: Transaction, row: Row, actor: Actor, *, policy: str) -> bool:
    """Whether the actor may see any of a notification: whole, or the overlap of a conflict."""
    return sees_whole(
        viewer_party=actor.party_id, owner_party=row["party_id"], policy=policy
    ) or bool(actor.party_id and tx.conflicts_between(actor.party_id, row["id"]))


def notification_view(
    tx: Transaction, row: Row, actor: Actor, *, policy: str, now: datetime
) -> dict[str, Any]:
    """The whole notification for its owner, the operator or a `full` mechanism; else the overlap.

    A party that may not see any of it gets NotFound, exactly as if it did not exist.
    """
    state = state_at(
        cancelled=row["cancelled_at"] is not None,
        start=from_epoch(row["start_ts"]),
        end=from_epoch(row["end_ts"]),
        now=now,
    )
    base = {
        "id": row["id"],
        "mechanism_id": row["mechanism_id"],
        "party": _party(tx, row["party_id"]),
        "state": state,
    }
    if sees_whole(viewer_party=actor.party_id, owner_party=row["party_id"], policy=policy):
        conflicts = [
            conflict_view(tx, c, actor)
            for c in tx.conflicts(
                party=None, mechanism_id=None, state=None, notification_id=row["id"], limit=1_000
            )
            if actor.party_id is None or actor.party_id in (c["party_a"], c["party_b"])
        ]
        return {
            **base,
            "disclosure": "whole",
            "kind": row["kind"],
            "title": row["title"],
            "reference": row["reference"],
            "version": row["version"],
            "late": bool(row["late"]),
            "start": format_instant(from_epoch(row["start_ts"])),
            "end": format_instant(from_epoch(row["end_ts"])),
            "volumes": json.loads(row["volumes_json"]),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "cancelled_at": row["cancelled_at"],
            "cancel_reason": row["cancel_reason"],
            "conflicts": conflicts,
            "acknowledgements": _acks(tx, "notification", row["id"]),
        }
    assert actor.party_id is not None
    shared = tx.conflicts_between(actor.party_id, row["id"])
    if not shared:
        raise NotFound(f"no notification {row['id']}")
    return {
        **base,
        "disclosure": "overlap",
        "version": row["version"],
        "conflicts": [conflict_view(tx, c, actor) for c in shared],
        "acknowledged": any(
            a["party_id"] == actor.party_id and a["version"] == row["version"]
            for a in _acks(tx, "notification", row["id"])
        ),
    }
