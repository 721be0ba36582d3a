"""What a caller gets to see: notifications and conflicts shaped by the disclosure policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from deconfliction.domain.disclosure import sees_whole, visible_sides
from deconfliction.domain.lifecycle import state_at
from deconfliction.domain.times import format_instant, from_epoch
from deconfliction.errors import NotFound
from deconfliction.interop.geojson import view_intersects_bbox, volumes_meet_bbox
from deconfliction.services.admin import party_view
from deconfliction.services.context import Actor
from deconfliction.services.ports import Row, Transaction

MAX_CONFLICTS = 1_000  # a whole view shows its notification's first conflicts, oldest first


class _Shown:
    """What a set of views shows besides their own rows — the parties named and the
    acknowledgements of each subject — read once for all of them, not once a view."""

    def __init__(
        self,
        tx: Transaction,
        *,
        party_ids: set[str],
        notification_ids: list[str],
        conflict_ids: list[str],
    ) -> None:
        named = tx.parties_among(sorted(party_ids)) if party_ids else []
        self.parties = {row["id"]: party_view(row) for row in named}
        self.acks: dict[str, list[dict[str, Any]]] = {}
        for subject_type, ids in (("notification", notification_ids), ("conflict", conflict_ids)):
            for row in tx.acknowledgements(subject_type, ids) if ids else []:
                self.acks.setdefault(row["subject_id"], []).append(
                    {
                        "party_id": row["party_id"],
                        "version": row["version"],
                        "acknowledged_at": row["acknowledged_at"],
                        "token_id": row["token_id"],
                    }
                )

    def party(self, party_id: str) -> dict[str, Any]:
        return self.parties[party_id]

    def acks_of(self, subject_id: str) -> list[dict[str, Any]]:
        return self.acks.get(subject_id, [])


def conflict_view(tx: Transaction, row: Row, actor: Actor) -> dict[str, Any]:
    """A conflict as its parties see it (own side / other side) or as the operator sees it."""
    return conflict_views(tx, [row], actor)[0]


def conflict_views(tx: Transaction, rows: list[Row], actor: Actor) -> list[dict[str, Any]]:
    """conflict_view of each row, the parties and acknowledgements read once for all of them;
    NotFound for the first the actor is not a party to."""
    shown = _Shown(
        tx,
        party_ids={row[side] for row in rows for side in ("party_a", "party_b")},
        notification_ids=[],
        conflict_ids=[row["id"] for row in rows],
    )
    return [_conflict_view(row, actor, shown) for row in rows]


def _conflict_view(row: Row, actor: Actor, shown: _Shown) -> dict[str, Any]:
    overlaps = orjson.loads(row["overlaps_json"])
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
    acks = shown.acks_of(row["id"])
    if actor.party_id is None:
        return {
            **view,
            "notification_a": row["notification_a"],
            "party_a": shown.party(row["party_a"]),
            "notification_b": row["notification_b"],
            "party_b": shown.party(row["party_b"]),
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
        "other_party": shown.party(row[f"party_{other}"]),
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
    ) or bool(actor.party_id and tx.conflicts_between(actor.party_id, [row["id"]]))


def notification_view(
    tx: Transaction, row: Row, actor: Actor, *, policy: str, now: datetime
) -> dict[str, Any]:
    """The whole notification for its owner, the operator or a `full` mechanism; else the overlap.

    A party that may not see any of it gets NotFound, exactly as if it did not exist.
    """
    return notification_views(tx, [row], actor, policy=policy, now=now)[0]


def notification_views(
    tx: Transaction, rows: list[Row], actor: Actor, *, policy: str, now: datetime
) -> list[dict[str, Any]]:
    """notification_view of each row, their conflicts, parties and acknowledgements read once
    for all of them; NotFound for the first the actor may not see at all."""
    whole = {
        row["id"]
        for row in rows
        if sees_whole(viewer_party=actor.party_id, owner_party=row["party_id"], policy=policy)
    }
    conflicts: dict[str, list[Row]] = {row["id"]: [] for row in rows}
    for conflict in tx.conflicts_of_notifications(sorted(whole)) if whole else []:
        if actor.party_id is None or actor.party_id in (conflict["party_a"], conflict["party_b"]):
            for side in ("notification_a", "notification_b"):
                if conflict[side] in whole and len(conflicts[conflict[side]]) < MAX_CONFLICTS:
                    conflicts[conflict[side]].append(conflict)
    overlapped = sorted(conflicts.keys() - whole)
    if overlapped:
        assert actor.party_id is not None  # the operator sees every notification whole
        for conflict in tx.conflicts_between(actor.party_id, overlapped):
            side = "a" if conflict["party_b"] == actor.party_id else "b"
            conflicts[conflict[f"notification_{side}"]].append(conflict)
    for row in rows:
        if row["id"] not in whole and not conflicts[row["id"]]:
            raise NotFound(f"no notification {row['id']}")
    shown_conflicts = {c["id"]: c for each in conflicts.values() for c in each}
    shown = _Shown(
        tx,
        party_ids={row["party_id"] for row in rows}
        | {c[side] for c in shown_conflicts.values() for side in ("party_a", "party_b")},
        notification_ids=[row["id"] for row in rows],
        conflict_ids=sorted(shown_conflicts),
    )
    return [
        _notification_view(row, actor, row["id"] in whole, conflicts[row["id"]], shown, now)
        for row in rows
    ]


def views_meeting_bbox(
    tx: Transaction,
    rows: list[Row],
    actor: Actor,
    *,
    policy: str,
    now: datetime,
    bbox: list[float],
    wanted: int,
) -> list[dict[str, Any]]:
    """The views of the rows that meet a west,south,east,north box, in order, at most `wanted`.

    A row the actor sees whole is tested by its own volumes before its view is built; the
    others (seen only where they overlap the actor's) by their views' overlaps. Views are
    built a batch at a time, no more than are still wanted, so rows past the last wanted cost
    no view.
    """
    maybe = [
        row
        for row in rows
        if not sees_whole(viewer_party=actor.party_id, owner_party=row["party_id"], policy=policy)
        or volumes_meet_bbox(orjson.loads(row["volumes_json"]), bbox)
    ]
    views: list[dict[str, Any]] = []
    while maybe and len(views) < wanted:
        batch, maybe = maybe[: wanted - len(views)], maybe[wanted - len(views) :]
        built = notification_views(tx, batch, actor, policy=policy, now=now)
        views += [
            view
            for view in built
            if view["disclosure"] == "whole" or view_intersects_bbox(view, bbox)
        ]
    return views


def _notification_view(
    row: Row, actor: Actor, whole: bool, conflicts: list[Row], shown: _Shown, now: datetime
) -> dict[str, Any]:
    state = state_at(
        cancelled=row["cancelled_at"] is not None,
        start=from_epoch(row["start_ts"]),
        end=from_epoch(row["end_ts"]),
        now=now,
    )
    base = {
        "id": row["id"],
        "mechanism_id": row["mechanism_id"],
        "party": shown.party(row["party_id"]),
        "state": state,
    }
    their_views = [_conflict_view(c, actor, shown) for c in conflicts]
    acks = shown.acks_of(row["id"])
    if whole:
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
            "volumes": orjson.loads(row["volumes_json"]),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "cancelled_at": row["cancelled_at"],
            "cancel_reason": row["cancel_reason"],
            "conflicts": their_views,
            "acknowledgements": acks,
        }
    return {
        **base,
        "disclosure": "overlap",
        "version": row["version"],
        "conflicts": their_views,
        "acknowledged": any(
            a["party_id"] == actor.party_id and a["version"] == row["version"] for a in acks
        ),
    }
