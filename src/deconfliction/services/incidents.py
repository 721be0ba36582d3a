"""Incidents: an unintended event reported on the line, linked to what was involved, and tracked
from `reported` through `under_review` to `closed` with a finding.

The parties involved are the reporter, the owners of linked notifications, both parties of
linked conflicts and the sender and recipients of linked messages (members only). They and the
operator see the incident whole; to anyone else it does not exist. The other involved parties are
told on the line by a system message they must acknowledge, and answer there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from deconfliction.domain.areas import parse_area
from deconfliction.domain.times import format_instant, parse_instant
from deconfliction.errors import FieldError, InvalidInput, NotFound, PermissionDenied, StateConflict
from deconfliction.services import ledger
from deconfliction.services.admin import party_view
from deconfliction.services.context import (
    Actor,
    Context,
    RequestKey,
    new_id,
    once,
    rules_of,
    visible_mechanism,
)
from deconfliction.services.events import record_event
from deconfliction.services.messages import system_message
from deconfliction.services.ports import Row, Transaction
from deconfliction.services.stored_json import dumps
from deconfliction.services.text import checked_text
from deconfliction.services.views import may_see

KINDS = (
    "strike",
    "near-miss",
    "airspace-infringement",
    "interference",
    "convoy-incident",
    "other",
)
STATES = ("reported", "under_review", "closed")
# Request field → the kind of item it links.
LINKS = {"notification_ids": "notification", "conflict_ids": "conflict", "message_ids": "message"}
MAX_TEXT = 10_000
MAX_LINKS = 100
MAX_ID = 100
MAX_LIST = 1_000
FUTURE_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=366)


def visible_incident(tx: Transaction, actor: Actor, incident_id: str) -> Row:
    """The incident if the actor is the operator or an involved party; else NotFound."""
    row = tx.incident(incident_id)
    if row is None or not (actor.is_operator or actor.party_id in tx.incident_parties(incident_id)):
        raise NotFound(f"no incident {incident_id}")
    return row


def _involved_by(
    tx: Transaction, actor: Actor, mechanism: Row, kind: str, ref: str
) -> list[str] | None:
    """The parties a linked item involves; None unless it is an item of this mechanism that the
    reporter may see."""
    fetch = {"notification": tx.notification, "conflict": tx.conflict, "message": tx.message}
    row = fetch[kind](ref)
    if row is None or row["mechanism_id"] != mechanism["id"]:
        return None
    if kind == "notification":
        seen = may_see(tx, row, actor, policy=rules_of(mechanism).disclosure)
        return [row["party_id"]] if seen else None
    parties = (
        [row["party_a"], row["party_b"]]
        if kind == "conflict"
        else [*json.loads(row["recipients_json"]), *filter(None, [row["sender_party"]])]
    )
    return parties if actor.party_id in parties else None


def _links(
    tx: Transaction, actor: Actor, mechanism: Row, data: dict[str, Any], errors: list[FieldError]
) -> tuple[list[tuple[str, str]], set[str]]:
    """The linked items as (kind, id) and the parties they involve; problems are added to
    `errors`, naming the field and the id."""
    links: list[tuple[str, str]] = []
    involved: set[str] = set()
    for field, kind in LINKS.items():
        ids = data.get(field) or []
        if not isinstance(ids, list) or len(ids) > MAX_LINKS:
            errors.append(FieldError(field, f"must be a list of at most {MAX_LINKS} {kind} ids"))
            continue
        for i, ref in enumerate(ids):
            where = f"{field}[{i}]"
            if not isinstance(ref, str) or not 0 < len(ref) <= MAX_ID:
                errors.append(FieldError(where, f"must be a {kind} id"))
            elif ids.index(ref) != i:
                errors.append(FieldError(where, f"{ref} is named twice"))
            elif (parties := _involved_by(tx, actor, mechanism, kind, ref)) is None:
                errors.append(
                    FieldError(where, f"no {kind} {ref} of this mechanism visible to you")
                )
            else:
                links.append((kind, ref))
                involved.update(parties)
    return links, involved


def _occurred_at(value: Any, now: datetime) -> str:
    moment = parse_instant(value, "occurred_at")
    if moment > now + FUTURE_SKEW:
        raise InvalidInput.one("occurred_at", f"is in the future (now is {format_instant(now)})")
    if moment < now - MAX_AGE:
        raise InvalidInput.one("occurred_at", f"is more than {MAX_AGE.days} days ago")
    return format_instant(moment)


def _new_incident(
    tx: Transaction, actor: Actor, mechanism: Row, data: dict[str, Any], now: datetime
) -> tuple[Row, list[tuple[str, str]], list[str]]:
    """The incident row, its links and its involved members from a report; InvalidInput naming
    every bad field."""
    errors: list[FieldError] = []

    def checked(check: Callable[[], Any]) -> Any:
        try:
            return check()
        except InvalidInput as error:
            errors.extend(error.errors)
            return None

    kind = data.get("kind")
    if kind not in KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(KINDS)}"))
    occurred = checked(lambda: _occurred_at(data.get("occurred_at"), now))
    place = checked(
        lambda: (
            parse_area(
                data.get("place"), "place", max_area_km2=rules_of(mechanism).max_area_km2
            ).geojson
        )
    )
    description = checked(
        lambda: checked_text(
            data.get("description"), "description", maximum=MAX_TEXT, multiline=True
        )
    )
    links, involved = _links(tx, actor, mechanism, data, errors)
    if errors:
        raise InvalidInput(errors)
    reporter = actor.require_party()
    parties = sorted(p for p in involved | {reporter} if tx.is_member(mechanism["id"], p))
    row = {
        "id": new_id("inc"),
        "mechanism_id": mechanism["id"],
        "reporter_party": reporter,
        "reporter_token": actor.token_id,
        "kind": kind,
        "occurred_at": occurred,
        "place_json": dumps(place),
        "description": description,
        "reported_at": format_instant(now),
    }
    return row, links, parties


def _linked_ids(tx: Transaction, incident_id: str) -> dict[str, list[str]]:
    links = tx.incident_links(incident_id)
    return {
        field: [link["subject_id"] for link in links if link["kind"] == kind]
        for field, kind in LINKS.items()
    }


def content_of(tx: Transaction, row: Row) -> dict[str, Any]:
    """What a report says, as its log entry's content hash binds it."""
    return {
        "incident_id": row["id"],
        "mechanism_id": row["mechanism_id"],
        "reporter": row["reporter_party"],
        "kind": row["kind"],
        "occurred_at": row["occurred_at"],
        "place": json.loads(row["place_json"]),
        "description": row["description"],
        **_linked_ids(tx, row["id"]),
        "involved_parties": tx.incident_parties(row["id"]),
    }


def finding_content(row: Row) -> dict[str, Any]:
    """What closing an incident says, as its log entry's content hash binds it."""
    return {"incident_id": row["id"], "finding": row["finding"]}


def _by(row: Row, step: str) -> dict[str, Any] | None:
    token = row[f"{step}_by_token"]
    return None if token is None else {"token_id": token, "party_id": row[f"{step}_by_party"]}


def incident_view(tx: Transaction, row: Row) -> dict[str, Any]:
    """The incident whole, as every involved party and the operator see it."""
    parties = {p["id"]: party_view(p) for p in tx.members(row["mechanism_id"])}
    involved = tx.incident_parties(row["id"])
    return {
        "id": row["id"],
        "mechanism_id": row["mechanism_id"],
        "state": row["state"],
        "kind": row["kind"],
        "occurred_at": row["occurred_at"],
        "place": json.loads(row["place_json"]),
        "description": row["description"],
        "reporter": parties[row["reporter_party"]],
        "involved_parties": [parties[p] for p in involved if p in parties],
        **_linked_ids(tx, row["id"]),
        "reported_at": row["reported_at"],
        "reported_by": {"token_id": row["reporter_token"], "party_id": row["reporter_party"]},
        "reviewed_at": row["reviewed_at"],
        "reviewed_by": _by(row, "reviewed"),
        "closed_at": row["closed_at"],
        "closed_by": _by(row, "closed"),
        "finding": row["finding"],
    }


def _announce(tx: Transaction, mechanism: Row, row: Row, parties: list[str], now: datetime) -> None:
    """Tell the other involved parties on the line; they acknowledge it and answer there."""
    reporter = tx.party(row["reporter_party"])
    assert reporter is not None
    system_message(
        tx,
        mechanism["id"],
        rules_of(mechanism),
        to=[p for p in parties if p != row["reporter_party"]],
        body=f"Incident {row['id']} ({row['kind']}, {row['occurred_at']}) was reported by "
        f"{reporter['code']} and involves your party. Read it, acknowledge this message and "
        "answer on this line.",
        references={"incidents": [row["id"]]},
        now=now,
        priority="urgent",
    )


def report(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str,
    data: dict[str, Any],
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """Record a member party's report of an incident; the other involved parties are told."""
    actor.require_party()
    with ctx.store.write() as tx:
        mechanism = visible_mechanism(tx, actor, mechanism_id)
        moment = ctx.now()
        at = format_instant(moment)

        def run() -> dict[str, Any]:
            row, links, parties = _new_incident(tx, actor, mechanism, data, moment)
            tx.insert_incident(row, links, parties)
            stored = tx.incident(row["id"])
            assert stored is not None
            recorded = record_event(
                tx,
                mechanism_id,
                "incident.reported",
                row["id"],
                parties,
                {
                    "incident_id": row["id"],
                    "kind": row["kind"],
                    "occurred_at": row["occurred_at"],
                    "state": "reported",
                },
                at,
                by=actor,
                content=content_of(tx, stored),
            )
            _announce(tx, mechanism, stored, parties, moment)
            view = incident_view(tx, stored)
            return ledger.with_receipt(tx, ctx.keys, view, recorded.log_index, moment)

        return once(tx, actor, request, at, run, mechanism_id=mechanism_id)


def _change(
    ctx: Context,
    actor: Actor,
    incident_id: str,
    request: RequestKey | None,
    *,
    step: str,
    apply: Callable[[Transaction, Row, str], Any],
) -> dict[str, Any]:
    """Move an incident on (`step`: under_review or closed), log it, answer with a receipt."""
    expected = {"under_review": "reported", "closed": "under_review"}[step]
    with ctx.store.write() as tx:
        row = visible_incident(tx, actor, incident_id)
        if step == "closed" and not (actor.is_operator or actor.party_id == row["reporter_party"]):
            raise PermissionDenied("only the reporting party or the operator closes an incident")
        moment = ctx.now()
        at = format_instant(moment)

        def run() -> dict[str, Any]:
            if row["state"] != expected:
                raise StateConflict(
                    f"incident {incident_id} is {row['state']}; only an incident that is "
                    f"{expected} can become {step}"
                )
            content = apply(tx, row, at)
            recorded = record_event(
                tx,
                row["mechanism_id"],
                f"incident.{step}",
                incident_id,
                tx.incident_parties(incident_id),
                {"incident_id": incident_id, "state": step},
                at,
                by=actor,
                content=content,
            )
            stored = tx.incident(incident_id)
            assert stored is not None
            view = incident_view(tx, stored)
            return ledger.with_receipt(tx, ctx.keys, view, recorded.log_index, moment)

        return once(tx, actor, request, at, run, mechanism_id=row["mechanism_id"])


def review(
    ctx: Context, actor: Actor, *, incident_id: str, request: RequestKey | None = None
) -> dict[str, Any]:
    """Take a reported incident under review (the operator or any involved party)."""

    def apply(tx: Transaction, row: Row, at: str) -> None:
        tx.review_incident(row["id"], at, actor.token_id, actor.party_id)

    return _change(ctx, actor, incident_id, request, step="under_review", apply=apply)


def close(
    ctx: Context,
    actor: Actor,
    *,
    incident_id: str,
    finding: Any,
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """Close an incident under review with a finding (the operator or the reporting party)."""
    text = checked_text(finding, "finding", maximum=MAX_TEXT, multiline=True)

    def apply(tx: Transaction, row: Row, at: str) -> dict[str, Any]:
        tx.close_incident(row["id"], at, actor.token_id, actor.party_id, text)
        return finding_content({**row, "finding": text})

    return _change(ctx, actor, incident_id, request, step="closed", apply=apply)


def get_incident(ctx: Context, actor: Actor, *, incident_id: str) -> dict[str, Any]:
    """One incident, for the operator and the parties involved (NotFound for anyone else)."""
    with ctx.store.read() as tx:
        return incident_view(tx, visible_incident(tx, actor, incident_id))


def list_incidents(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str,
    state: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """A mechanism's incidents the caller is involved in (all for the operator), newest first."""
    errors = []
    if state is not None and state not in STATES:
        errors.append(FieldError("state", f"must be one of {', '.join(STATES)}"))
    if not 1 <= limit <= MAX_LIST:
        errors.append(FieldError("limit", f"must be between 1 and {MAX_LIST}"))
    if errors:
        raise InvalidInput(errors)
    with ctx.store.read() as tx:
        visible_mechanism(tx, actor, mechanism_id)
        rows = tx.incidents(mechanism_id, party=actor.party_id, state=state, limit=limit)
        return [incident_view(tx, row) for row in rows]
