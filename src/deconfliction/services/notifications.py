"""Notification use cases: notify, revise, cancel, read, list, revisions, acknowledge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deconfliction.domain.conflicts import Placed
from deconfliction.domain.disclosure import sees_whole
from deconfliction.domain.lifecycle import KINDS, STATES, is_late, state_at
from deconfliction.domain.rules import Rules
from deconfliction.domain.times import format_instant, from_epoch, parse_instant, passes_at
from deconfliction.domain.volumes import Box, Volume, box_of, lonlat_box, parse_volumes
from deconfliction.errors import (
    FieldError,
    InvalidInput,
    NotFound,
    PreconditionRequired,
    StateConflict,
    VersionMismatch,
)
from deconfliction.services import (
    acknowledgements,
    announcements,
    conflict_search,
    conflicts,
    inbox,
    ledger,
)
from deconfliction.services.conflict_search import Ahead
from deconfliction.services.context import (
    Actor,
    Context,
    RequestKey,
    mechanism_seen_by,
    new_id,
    once,
    rules_of,
    visible_mechanism,
)
from deconfliction.services.events import record_event
from deconfliction.services.ports import Row, Transaction
from deconfliction.services.stored_json import dumps
from deconfliction.services.text import checked_text
from deconfliction.services.views import (
    may_see,
    notification_view,
    notification_views,
    views_meeting_bbox,
)

CONTENT_FIELDS = {"kind", "title", "reference", "volumes"}
MAX_TEXT = 200
MAX_LIST = 1_000


def _content(body: Any, rules: Rules, now: datetime) -> tuple[dict[str, str], list[Volume]]:
    """Validate kind, title, reference and volumes, reporting every bad field at once."""
    if not isinstance(body, dict):
        raise InvalidInput.one("body", "must be an object")
    errors = [FieldError(k, "unknown field") for k in sorted(set(body) - CONTENT_FIELDS)]
    if body.get("kind") not in KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(KINDS)}"))
    texts = {}
    for name, required in (("title", True), ("reference", False)):
        try:
            texts[name] = checked_text(body.get(name), name, maximum=MAX_TEXT, required=required)
        except InvalidInput as error:
            errors.extend(error.errors)
    volumes: list[Volume] = []
    try:
        volumes = parse_volumes(body.get("volumes"), rules=rules, now=now)
    except InvalidInput as error:
        errors.extend(error.errors)
    if errors:
        raise InvalidInput(errors)
    return {"kind": body["kind"], **texts}, volumes


@dataclass(frozen=True)
class Prepared:
    """A body parsed against a mechanism's rules at a moment, its volumes placed under the id
    the notification will be stored with, and, when prepared before the write, its conflicts
    searched ahead (else None)."""

    rules: Rules
    texts: dict[str, str]
    volumes: list[Volume]
    notification_id: str
    placed: list[tuple[Placed, Box]]
    ahead: Ahead | None


def _parse_early(ctx: Context, party: str, mechanism_id: str, body: Any) -> Prepared | None:
    """Parse the body and search its conflicts before the write, so that the writer's turn —
    one write at a time across every process on a SQLite file — does not wait for its
    geometry. None when the mechanism was not read here yet or the body does not parse: the
    turn then parses it, and reports what is wrong at its own moment — after an idempotent
    replay's record is looked up, as before."""
    rules = ctx.rules_seen.get(mechanism_id)
    if rules is None:
        return None
    try:
        texts, volumes = _content(body, rules, ctx.now())
    except Exception:  # noqa: BLE001 - whatever fails here is the turn's to report
        return None
    notification_id = new_id("ntf")
    placed = placed_volumes(notification_id, party, volumes)
    with ctx.store.read() as tx:
        ahead = None
        if tx.members_mechanism(mechanism_id, party) is not None:
            ahead = conflict_search.search_ahead(
                tx, mechanism_id=mechanism_id, party_id=party, placed=placed, rules=rules
            )
    return Prepared(rules, texts, volumes, notification_id, placed, ahead)


def _prepared(
    body: Any, party: str, rules: Rules, now: datetime, early: Prepared | None
) -> Prepared:
    """The body as `_content(body, rules, now)` gives it, placed: the early parse, with its
    search ahead, if it was made against these rules and its windows pass at `now` as well
    (nothing else a parse checks depends on the moment), else parsed again."""
    if early is not None and early.rules == rules:
        if all(passes_at(v.window, now) for v in early.volumes):
            return early
    texts, volumes = _content(body, rules, now)
    notification_id = new_id("ntf")
    placed = placed_volumes(notification_id, party, volumes)
    return Prepared(rules, texts, volumes, notification_id, placed, None)


def placed_volumes(
    notification_id: str, party_id: str, volumes: list[Volume]
) -> list[tuple[Placed, Box]]:
    """A notification's volumes as the conflict search places and indexes them."""
    return [
        (
            Placed(
                notification_id=notification_id,
                party_id=party_id,
                index=i,
                shape=v.area.shape,
                altitude=v.altitude,
                window=v.window,
            ),
            box_of(v),
        )
        for i, v in enumerate(volumes)
    ]


def _content_row(
    texts: dict[str, str], volumes: list[Volume], rules: Rules, now: datetime
) -> dict[str, Any]:
    start = min(v.window.start for v in volumes)
    return {
        **texts,
        "volumes_json": dumps([v.to_json() for v in volumes]),
        "start_ts": start.timestamp(),
        "end_ts": max(v.window.end for v in volumes).timestamp(),
        "late": int(is_late(start=start, received_at=now, rules=rules)),
    }


def _audience(tx: Transaction, row: Row, rules: Rules) -> list[str]:
    """Who hears of a change to a notification: its owner, and everyone under a `full` policy."""
    if rules.disclosure == "full":
        return [m["id"] for m in tx.members(row["mechanism_id"])]
    return [row["party_id"]]


def content_of(row: Row) -> dict[str, Any]:
    """What a version of a notification says, as its log entry's content hash binds it."""
    return {
        "notification_id": row["id"],
        "version": row["version"],
        "kind": row["kind"],
        "title": row["title"],
        "reference": row["reference"],
        "volumes": json.loads(row["volumes_json"]),
        "late": bool(row["late"]),
    }


def _record_revision(tx: Transaction, row: Row, actor: Actor, at: str) -> None:
    tx.insert_revision(
        {
            "notification_id": row["id"],
            "version": row["version"],
            "kind": row["kind"],
            "title": row["title"],
            "reference": row["reference"],
            "volumes_json": row["volumes_json"],
            "late": row["late"],
            "received_at": at,
            "token_id": actor.token_id,
        }
    )


def notify(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str,
    body: Any,
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """Record a notification and its conflicts atomically; late ones are flagged, not refused."""
    party = actor.require_party()
    # Parsing and searching before the write fill time the request would wait anyway when
    # this process's writes wait for another's; else they delay the write or slow this
    # process's own (sharing the interpreter with it).
    early = _parse_early(ctx, party, mechanism_id, body) if ctx.store.work_ahead_is_free() else None
    with ctx.store.write() as tx:
        mechanism = visible_mechanism(tx, actor, mechanism_id)
        rules = rules_of(mechanism)
        ctx.remember_rules(mechanism_id, rules)
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            content = _prepared(body, party, rules, moment, early)
            row = {
                "id": content.notification_id,
                "mechanism_id": mechanism_id,
                "party_id": party,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                **_content_row(content.texts, content.volumes, rules, moment),
            }
            tx.insert_notification(row)
            _record_revision(tx, row, actor, now)
            tx.index_volumes(row, content.placed)
            recorded = record_event(
                tx,
                mechanism_id,
                "notification.created",
                row["id"],
                _audience(tx, row, rules),
                {"notification_id": row["id"], "version": 1, "late": bool(row["late"])},
                now,
                by=actor,
                content=content_of(row),
            )
            conflicting = conflicts.recompute(
                tx,
                notification=row,
                placed=content.placed,
                rules=rules,
                now=moment,
                new=True,
                ahead=content.ahead,
            )
            announcements.notification_changed(
                tx, row, change="created", rules=rules, conflicting=conflicting, now=moment
            )
            stored = {**row, "cancelled_at": None, "cancel_reason": None}  # as written
            view = notification_view(tx, stored, actor, policy=rules.disclosure, now=moment)
            return ledger.with_receipt(tx, ctx.keys, view, recorded.log_index, moment)

        return once(tx, actor, request, now, run, mechanism_id=mechanism_id)


def _owned(tx: Transaction, actor: Actor, notification_id: str) -> Row:
    """A notification of the caller's own party; others' are NotFound for changes."""
    row = tx.notification(notification_id)
    if row is None or row["party_id"] != actor.party_id:
        raise NotFound(f"no notification {notification_id} of yours")
    return row


def revise(
    ctx: Context,
    actor: Actor,
    *,
    notification_id: str,
    body: Any,
    expected_version: int | None,
) -> dict[str, Any]:
    """Replace the volumes (a new version; the old one is kept) and recompute conflicts."""
    actor.require_party()
    with ctx.store.write() as tx:
        row = _owned(tx, actor, notification_id)
        if expected_version is None:
            raise PreconditionRequired(
                f"send If-Match with the version you revise (current: {row['version']})"
            )
        if expected_version != row["version"]:
            raise VersionMismatch(
                f"version {expected_version} is stale; the current version is {row['version']}",
                current_version=row["version"],
            )
        moment = ctx.now()
        _require_open(row, moment)
        mechanism = tx.mechanism(row["mechanism_id"])
        assert mechanism is not None
        rules = rules_of(mechanism)
        texts, volumes = _content(body, rules, moment)
        now = format_instant(moment)
        revised = {
            **row,
            **_content_row(texts, volumes, rules, moment),
            "version": row["version"] + 1,
            "updated_at": now,
        }
        before = _parties_in(tx.open_conflicts_of(row["id"]))
        tx.update_notification(revised)
        _record_revision(tx, revised, actor, now)
        placed = placed_volumes(row["id"], row["party_id"], volumes)
        tx.replace_volumes(revised, placed)
        recorded = record_event(
            tx,
            row["mechanism_id"],
            "notification.revised",
            row["id"],
            _audience(tx, row, rules) + before,
            {"notification_id": row["id"], "version": revised["version"]},
            now,
            by=actor,
            content=content_of(revised),
        )
        conflicts.recompute(
            tx,
            notification=revised,
            placed=placed,
            rules=rules,
            now=moment,
            because=f"revision {revised['version']} of {row['id']} removed the overlap",
        )
        announcements.notification_changed(
            tx, revised, change="revised", rules=rules, conflicting=before, now=moment
        )
        view = notification_view(tx, revised, actor, policy=rules.disclosure, now=moment)
        return ledger.with_receipt(tx, ctx.keys, view, recorded.log_index, moment)


def _parties_in(conflict_rows: list[Row]) -> list[str]:
    """Both parties of each conflict."""
    return [party for c in conflict_rows for party in (c["party_a"], c["party_b"])]


def _require_open(row: Row, moment: datetime) -> None:
    state = state_at(
        cancelled=row["cancelled_at"] is not None,
        start=from_epoch(row["start_ts"]),
        end=from_epoch(row["end_ts"]),
        now=moment,
    )
    if state in ("cancelled", "ended"):
        raise StateConflict(f"notification {row['id']} is {state} and can no longer change")


def cancel(
    ctx: Context,
    actor: Actor,
    *,
    notification_id: str,
    reason: Any = None,
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """Cancel a notification of one's own; its open conflicts are resolved."""
    actor.require_party()
    reason_text = checked_text(reason, "reason", maximum=MAX_TEXT, required=False)
    with ctx.store.write() as tx:
        row = _owned(tx, actor, notification_id)
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            _require_open(row, moment)
            mechanism = tx.mechanism(row["mechanism_id"])
            assert mechanism is not None
            rules = rules_of(mechanism)
            open_conflicts = tx.open_conflicts_of(row["id"])
            before = _parties_in(open_conflicts)
            audience = _audience(tx, row, rules) + before
            # The reason is the owner's own words, part of the whole notification: the event and
            # its log entry carry it only if everyone they go to may see the notification whole.
            whole = all(
                sees_whole(viewer_party=p, owner_party=row["party_id"], policy=rules.disclosure)
                for p in audience
            )
            recorded = record_event(
                tx,
                row["mechanism_id"],
                "notification.cancelled",
                row["id"],
                audience,
                {"notification_id": row["id"], **({"reason": reason_text} if whole else {})},
                now,
                by=actor,
            )
            tx.cancel_notification(row["id"], now, reason_text)
            tx.remove_volumes(row)
            for conflict in open_conflicts:
                conflicts.resolve(
                    tx,
                    conflict,
                    rules=rules,
                    now=moment,
                    because=f"notification {row['id']} was cancelled by its owner",
                )
            announcements.notification_changed(
                tx, row, change="cancelled", rules=rules, conflicting=before, now=moment
            )
            cancelled = {
                **row,
                "cancelled_at": now,
                "cancel_reason": reason_text,
                "updated_at": now,
            }
            view = notification_view(tx, cancelled, actor, policy=rules.disclosure, now=moment)
            return ledger.with_receipt(tx, ctx.keys, view, recorded.log_index, moment)

        return once(tx, actor, request, now, run, mechanism_id=row["mechanism_id"])


def _readable(tx: Transaction, actor: Actor, notification_id: str) -> tuple[Row, Rules]:
    row = tx.notification(notification_id)
    mechanism = None if row is None else mechanism_seen_by(tx, actor, row["mechanism_id"])
    if row is None or mechanism is None:
        raise NotFound(f"no notification {notification_id}")
    return row, rules_of(mechanism)


def get_notification(ctx: Context, actor: Actor, *, notification_id: str) -> dict[str, Any]:
    """A notification as far as the caller may see it (NotFound when not at all).

    Fetching it counts as its delivery to the caller's party.
    """
    with ctx.store.read() as tx:
        row, rules = _readable(tx, actor, notification_id)
        view = notification_view(tx, row, actor, policy=rules.disclosure, now=ctx.now())
    if actor.party_id is not None:
        inbox.mark_delivered(
            ctx, actor.party_id, [notification_id, *(c["id"] for c in view["conflicts"])], "fetched"
        )
    return view


def revisions(ctx: Context, actor: Actor, *, notification_id: str) -> list[dict[str, Any]]:
    """Every version of a notification, for whoever may see it whole."""
    with ctx.store.read() as tx:
        row, rules = _readable(tx, actor, notification_id)
        view = notification_view(tx, row, actor, policy=rules.disclosure, now=ctx.now())
        if view["disclosure"] != "whole":
            raise NotFound(f"no revisions of {notification_id} visible to you")
        return [
            {
                "version": r["version"],
                "kind": r["kind"],
                "title": r["title"],
                "reference": r["reference"],
                "volumes": json.loads(r["volumes_json"]),
                "late": bool(r["late"]),
                "received_at": r["received_at"],
                "token_id": r["token_id"],
            }
            for r in tx.revisions(notification_id)
        ]


def list_notifications(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str,
    state: str | None = None,
    start: str | None = None,
    end: str | None = None,
    bbox: list[float] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The caller's notifications in full, and others' as far as the policy lets it see them."""
    errors = []
    if state is not None and state not in STATES:
        errors.append(FieldError("state", f"must be one of {', '.join(STATES)}"))
    window: dict[str, float | None] = {"start": None, "end": None}
    for name, value in (("start", start), ("end", end)):
        if value is not None:
            try:
                window[name] = parse_instant(value, name).timestamp()
            except InvalidInput as error:
                errors.extend(error.errors)
    if bbox is not None and (
        len(bbox) != 4
        or not (-180 <= bbox[0] <= bbox[2] <= 180 and -90 <= bbox[1] <= bbox[3] <= 90)
    ):
        errors.append(FieldError("bbox", "must be west,south,east,north in degrees, west ≤ east"))
    if not 1 <= limit <= MAX_LIST:
        errors.append(FieldError("limit", f"must be between 1 and {MAX_LIST}"))
    if errors:
        raise InvalidInput(errors)
    moment = ctx.now()
    with ctx.store.read() as tx:
        mechanism = visible_mechanism(tx, actor, mechanism_id)
        rules = rules_of(mechanism)
        need_to_know = actor.party_id is not None and rules.disclosure != "full"
        views: list[dict[str, Any]] = []
        offset = 0
        within = lonlat_box(*bbox) if bbox is not None else None
        # The store gives the notifications whose indexed boxes meet the bbox; the exact test
        # needs their geometry, so it runs here; pages are read until `limit` views match,
        # so a bbox never hides matches that come after the first page. About half of a box's
        # candidates meet it, so its pages are twice the views wanted: one read, mostly.
        page_size = limit if bbox is None else 2 * limit
        while len(views) < limit:
            rows = tx.notifications(
                mechanism_id,
                visible_to=actor.party_id if need_to_know else None,
                state=state,
                now=moment.timestamp(),
                start=window["start"],
                end=window["end"],
                limit=page_size,
                offset=offset,
                within=within,
            )
            wanted = limit - len(views)
            if bbox is None:
                views += notification_views(
                    tx, rows[:wanted], actor, policy=rules.disclosure, now=moment
                )
            else:
                views += views_meeting_bbox(
                    tx, rows, actor, policy=rules.disclosure, now=moment, bbox=bbox, wanted=wanted
                )
            if len(rows) < page_size:
                break
            offset += len(rows)
    return views[:limit]


def acknowledge_notification(
    ctx: Context, actor: Actor, *, notification_id: str, request: RequestKey | None = None
) -> dict[str, Any]:
    """Record that the caller's party received and read another party's notification."""
    party = actor.require_party()
    with ctx.store.write() as tx:
        row, rules = _readable(tx, actor, notification_id)
        if not may_see(tx, row, actor, policy=rules.disclosure):
            raise NotFound(f"no notification {notification_id}")
        if row["party_id"] == party:
            raise StateConflict("a party does not acknowledge its own notification")
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            return acknowledgements.acknowledge(
                tx,
                actor,
                subject_type="notification",
                subject_id=notification_id,
                version=row["version"],
                mechanism_id=row["mechanism_id"],
                audience=[row["party_id"], party],
                keys=ctx.keys,
                now=moment,
            )

        return once(tx, actor, request, now, run, mechanism_id=row["mechanism_id"])
