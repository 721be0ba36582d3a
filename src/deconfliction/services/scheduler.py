"""The scheduler: what happens when a deadline passes, and when a party falls silent.

Deadlines live in the inbox table (`due_ts`), so a restarted server picks up whatever fell due
while it was down. At an item's deadline the recipient gets a reminder and the sender learns the
item is overdue; `escalation_after_min` later the recipient's escalation contact (a duty
officer's token and/or webhook) is alerted.

A step first reads which mechanisms have something due (a passed deadline, a member's silence to
report or its end), then processes each in a write transaction of its own that reads again, once
it holds the mechanism, what is due in it: nothing is written, and no writer waits, when nothing
is due; a step never holds more than one mechanism; and where several processes serve one
database and step at once, whatever one has done the other finds done.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from deconfliction.domain.rules import Rules
from deconfliction.domain.times import format_instant
from deconfliction.services import line_status
from deconfliction.services.context import Context, rules_of
from deconfliction.services.events import record_event
from deconfliction.services.ports import Row, Transaction
from deconfliction.services.stored_json import dumps

BATCH = 200


def step(ctx: Context) -> bool:
    """Process what is due now; True when a full batch was due (there may be more)."""
    now = ctx.now()
    with ctx.store.read() as tx:
        due = tx.due_inbox_items(now.timestamp(), BATCH)
        mechanisms = {item["mechanism_id"] for item in due}
        mechanisms.update(line_status.silence_to_report(tx, now))
    for mechanism_id in sorted(mechanisms):
        _step_in(ctx, mechanism_id, now)
    return len(due) == BATCH


def _step_in(ctx: Context, mechanism_id: str, now: datetime) -> None:
    """One mechanism's reminders, escalations and silence alarms, in one transaction."""
    with ctx.store.write() as tx:
        mechanism = tx.mechanism(mechanism_id)  # on PostgreSQL, its lock: read what is due after
        assert mechanism is not None, f"mechanism {mechanism_id} had something due"
        rules = rules_of(mechanism)
        for item in tx.due_inbox_items(now.timestamp(), BATCH, mechanism_id):
            if item["reminded_at"] is None:
                _remind(tx, item, rules, now)
            else:
                _escalate(tx, item, now)
        line_status.check_silence(tx, mechanism, now)


def _item_payload(item: Row) -> dict[str, object]:
    return {
        "subject_type": item["subject_type"],
        "subject_id": item["subject_id"],
        "version": item["version"],
        "party_id": item["party_id"],
        "deadline": item["deadline_at"],
    }


def _remind(tx: Transaction, item: Row, rules: Rules, now: datetime) -> None:
    at = format_instant(now)
    mechanism_id, party = item["mechanism_id"], item["party_id"]
    record_event(
        tx, mechanism_id, "line.reminder", item["subject_id"], [party], _item_payload(item), at
    )
    if item["sender_party"] is not None:
        record_event(
            tx,
            mechanism_id,
            "line.overdue",
            item["subject_id"],
            [item["sender_party"]],
            {**_item_payload(item), "stage": "reminded"},
            at,
        )
    escalate_at = datetime.fromtimestamp(item["deadline_ts"], now.tzinfo) + timedelta(
        minutes=rules.escalation_after_min
    )
    tx.advance_inbox_item(
        item["id"],
        column="reminded_at",
        at=at,
        due_ts=max(escalate_at, now).timestamp(),
        trail_entry=dumps({"at": at, "action": "reminder", "to": {"party_id": party}}),
    )


def _live_contact(tx: Transaction, mechanism_id: str, party: str) -> tuple[str | None, str | None]:
    """The party's escalation token and webhook, each only while it is still live.

    A revoked token or a deleted webhook is passed over: the escalation then goes to the whole
    party rather than to no one.
    """
    contact = tx.escalation_contact(mechanism_id, party) or {}
    token_id, webhook_id = contact.get("token_id"), contact.get("webhook_id")
    if token_id is not None:
        token = tx.token(token_id)
        if token is None or token["revoked_at"] is not None:
            token_id = None
    if webhook_id is not None and not tx.is_live_webhook_of(webhook_id, party):
        webhook_id = None
    return token_id, webhook_id


def _escalate(tx: Transaction, item: Row, now: datetime) -> None:
    at = format_instant(now)
    mechanism_id, party = item["mechanism_id"], item["party_id"]
    token_id, webhook_id = _live_contact(tx, mechanism_id, party)
    to = {"party_id": party, "token_id": token_id, "webhook_id": webhook_id}
    record_event(
        tx,
        mechanism_id,
        "line.escalation",
        item["subject_id"],
        [party],
        {**_item_payload(item), "to": to},
        at,
        token_id=token_id,
        webhooks=(webhook_id,) if webhook_id else (),
    )
    if item["sender_party"] is not None:
        record_event(
            tx,
            mechanism_id,
            "line.overdue",
            item["subject_id"],
            [item["sender_party"]],
            {**_item_payload(item), "stage": "escalated"},
            at,
        )
    tx.advance_inbox_item(
        item["id"],
        column="escalated_at",
        at=at,
        due_ts=None,
        trail_entry=dumps({"at": at, "action": "escalation", "to": to}),
    )
