"""The state of the line: who was heard from when, who is silent, what is overdue, who to alert.

A line can fail by falling silent while the other side assumes all is well, so the service
watches it: every authenticated call records that its party was heard from; a member silent for
longer than the mechanism's `silence_alarm_min` is reported to the others by a system message,
and its return too.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from deconfliction.domain.times import format_instant
from deconfliction.errors import InvalidInput, NotFound
from deconfliction.services import inbox, ledger
from deconfliction.services.admin import party_view
from deconfliction.services.context import Actor, Context, rules_of, visible_mechanism
from deconfliction.services.messages import system_message
from deconfliction.services.ports import Row, Transaction

TOUCH_EVERY_S = 30.0
INBOX_STATES = ("pending", "overdue", "all")
MAX_LIST = 1_000


def contact_due(ctx: Context, actor: Actor) -> bool:
    """Whether the actor's party's contact should be written now (at most every 30 s)."""
    if actor.party_id is None:
        return False
    last = ctx.heard.get(actor.party_id)
    return last is None or time.monotonic() - last >= TOUCH_EVERY_S


def heard_from(ctx: Context, actor: Actor) -> None:
    """Record that the actor's party contacted the service (written at most every 30 s)."""
    if not contact_due(ctx, actor):
        return
    assert actor.party_id is not None
    ctx.heard[actor.party_id] = time.monotonic()
    with ctx.store.write() as tx:
        tx.touch_party(actor.party_id, format_instant(ctx.now()))


def _since(text: str) -> datetime:
    return datetime.fromisoformat(text)


def silence_to_report(tx: Transaction, now: datetime) -> list[str]:
    """The mechanisms where a member's silence, or its end, is to be reported now."""
    return [m["id"] for m in tx.mechanisms(None) if _silence_changes(tx, m, now)]


def check_silence(tx: Transaction, mechanism: Row, now: datetime) -> None:
    """Raise an alarm for each member silent too long; clear it, and say so, when it is back."""
    rules = rules_of(mechanism)
    for member, last, others, silent in _silence_changes(tx, mechanism, now):
        party = member["id"]
        if silent:
            tx.raise_silence_alarm(mechanism["id"], party, format_instant(now))
            body = (
                f"{member['name']} ({member['code']}) has not contacted the line since {last}. "
                "Do not assume it has read what was sent since."
            )
        else:
            tx.clear_silence_alarm(mechanism["id"], party)
            body = (
                f"{member['name']} ({member['code']}) is back on the line (heard from at {last})."
            )
        system_message(
            tx,
            mechanism["id"],
            rules,
            to=others,
            body=body,
            references={},
            now=now,
            priority="urgent" if silent else "routine",
        )


def _silence_changes(
    tx: Transaction, mechanism: Row, now: datetime
) -> list[tuple[Row, str, list[str], bool]]:
    """(member, last heard from, the other members, silent) for each member whose silence
    alarm is to be raised (silent) or cleared."""
    limit = timedelta(minutes=rules_of(mechanism).silence_alarm_min)
    members = tx.members(mechanism["id"])
    seen = tx.last_seen([m["id"] for m in members])
    alarms = tx.silence_alarms(mechanism["id"])
    changes = []
    for member in members:
        party = member["id"]
        last: str = seen[party] if party in seen else member["joined_at"]
        others = [m["id"] for m in members if m["id"] != party]
        if party not in alarms and now - _since(last) > limit:
            changes.append((member, last, others, True))
        elif party in alarms and _since(last) >= _since(alarms[party]):
            changes.append((member, last, others, False))
    return changes


def status(ctx: Context, actor: Actor, *, mechanism_id: str) -> dict[str, Any]:
    """Per member: last contact, silence, overdue items and whether its webhook is reachable."""
    now = ctx.now()
    with ctx.store.read() as tx:
        mechanism = visible_mechanism(tx, actor, mechanism_id)
        rules = rules_of(mechanism)
        members = tx.members(mechanism_id)
        ids = [m["id"] for m in members]
        seen = tx.last_seen(ids)
        alarms = tx.silence_alarms(mechanism_id)
        overdue = tx.overdue_counts(mechanism_id, now.timestamp())
        hooks = tx.webhook_health(ids)
    limit = timedelta(minutes=rules.silence_alarm_min)
    parties = []
    for member in members:
        party = member["id"]
        last = seen.get(party)
        hook = hooks.get(party)
        parties.append(
            {
                "party": party_view(member),
                "last_contact_at": last,
                "silent": party in alarms or now - _since(last or member["joined_at"]) > limit,
                "silent_since_alarm": alarms.get(party),
                "overdue_items": overdue.get(party, 0),
                "webhook": None
                if hook is None
                else {
                    **hook,
                    "reachable": hook["last_success_at"] is not None
                    and (
                        hook["last_failure_at"] is None
                        or hook["last_success_at"] >= hook["last_failure_at"]
                    ),
                },
            }
        )
    return {
        "mechanism_id": mechanism_id,
        "at": format_instant(now),
        "silence_alarm_min": rules.silence_alarm_min,
        "members": parties,
    }


def list_inbox(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str | None = None,
    state: str = "pending",
    limit: int = 100,
) -> list[dict[str, Any]]:
    """What the caller's party must acknowledge (the operator sees every party's), by deadline."""
    if state not in INBOX_STATES:
        raise InvalidInput.one("state", f"must be one of {', '.join(INBOX_STATES)}")
    now = ctx.now().timestamp()
    with ctx.store.read() as tx:
        if mechanism_id is not None:
            visible_mechanism(tx, actor, mechanism_id)
        rows = tx.inbox_items(
            party_id=actor.party_id,
            mechanism_id=mechanism_id,
            pending_only=state == "pending",
            overdue_at=now if state == "overdue" else None,
            limit=min(limit, MAX_LIST),
        )
    return [inbox.item_view(row, now) for row in rows]


def escalation_contact(ctx: Context, actor: Actor, *, mechanism_id: str) -> dict[str, Any]:
    party = actor.require_party()
    with ctx.store.read() as tx:
        visible_mechanism(tx, actor, mechanism_id)
        row = tx.escalation_contact(mechanism_id, party)
    if row is None:
        raise NotFound(f"no escalation contact set for your party in {mechanism_id}")
    return _contact_view(row)


def set_escalation_contact(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str,
    token_id: str | None,
    webhook_id: str | None,
) -> dict[str, Any]:
    """Who is alerted when an item of the caller's party goes unacknowledged past its deadline:
    another token of the party (e.g. a duty officer's) and/or one of its webhooks."""
    party = actor.require_party()
    if token_id is None and webhook_id is None:
        raise InvalidInput.one("token_id", "name a token_id, a webhook_id or both")
    with ctx.store.write() as tx:
        visible_mechanism(tx, actor, mechanism_id)
        if token_id is not None:
            token = tx.token(token_id)
            if token is None or token["party_id"] != party or token["revoked_at"] is not None:
                raise InvalidInput.one("token_id", "is not a live token of your party")
        if webhook_id is not None and not tx.is_live_webhook_of(webhook_id, party):
            raise InvalidInput.one("webhook_id", "is not a live webhook of your party")
        moment = ctx.now()
        row = {
            "mechanism_id": mechanism_id,
            "party_id": party,
            "token_id": token_id,
            "webhook_id": webhook_id,
            "updated_at": format_instant(moment),
        }
        tx.set_escalation_contact(row)
        view = _contact_view(row)
        return ledger.logged(
            tx,
            ctx.keys,
            view,
            "escalation_contact.set",
            at=moment,
            by=actor,
            subject_id=party,
            mechanism_id=mechanism_id,
            audience=[party],
            data={"token_id": token_id, "webhook_id": webhook_id},
        )


def _contact_view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("mechanism_id", "party_id", "token_id", "webhook_id", "updated_at")}
