"""Messages on the line: party messages with deadlines and threads, and the service's own.

A message goes to one or more member parties; each recipient must acknowledge it — received and
read — by its deadline. The sender sees, per recipient, whether it was delivered, acknowledged
or is overdue. System messages (sender None) tell parties what the service saw happen.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from deconfliction.domain.areas import parse_area
from deconfliction.domain.rules import Rules
from deconfliction.domain.times import format_instant, parse_instant
from deconfliction.errors import FieldError, InvalidInput, NotFound, StateConflict
from deconfliction.services import acknowledgements, inbox, ledger, signing
from deconfliction.services.context import (
    Actor,
    Context,
    RequestKey,
    new_id,
    once,
    rules_of,
    visible_mechanism,
)
from deconfliction.services.events import Recorded, record_event
from deconfliction.services.ports import Row, Transaction
from deconfliction.services.stored_json import dumps
from deconfliction.services.text import checked_text
from deconfliction.services.views import may_see

TYPES = ("notice", "query", "request-change", "answer", "incident", "text")
PRIORITIES = ("routine", "urgent")
FOLDERS = ("inbox", "sent", "all")
MAX_BODY = 10_000
MAX_RECIPIENTS = 50
MAX_REFERENCES = 50
MAX_DEADLINE = timedelta(days=7)
MAX_LIST = 1_000


def _visible_message(tx: Transaction, actor: Actor, message_id: str) -> Row:
    row = tx.message(message_id)
    if row is None or not (
        actor.is_operator
        or row["sender_party"] == actor.party_id
        or actor.party_id in json.loads(row["recipients_json"])
    ):
        raise NotFound(f"no message {message_id}")
    return row


def _recipients(tx: Transaction, mechanism_id: str, sender: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidInput.one("to", "must be a non-empty list of member party ids")
    if len(value) > MAX_RECIPIENTS:
        raise InvalidInput.one("to", f"must name at most {MAX_RECIPIENTS} parties")
    errors = []
    for i, party in enumerate(value):
        where = f"to[{i}]"
        if not isinstance(party, str) or not tx.is_member(mechanism_id, party):
            errors.append(FieldError(where, "is not a member party of this mechanism"))
        elif party == sender:
            errors.append(FieldError(where, "is the sender's own party"))
        elif value.index(party) != i:
            errors.append(FieldError(where, "is named twice"))
    if errors:
        raise InvalidInput(errors)
    return sorted(value)


def _references(tx: Transaction, actor: Actor, mechanism: Row, value: Any) -> dict[str, list[str]]:
    """Notifications, conflicts and (when given) incidents of this mechanism the sender itself
    may see."""
    value = value or {}
    if not isinstance(value, dict) or set(value) - {"notifications", "conflicts", "incidents"}:
        raise InvalidInput.one(
            "references", "must be an object with notifications, conflicts and incidents"
        )
    policy = json.loads(mechanism["rules_json"]).get("disclosure", "need-to-know")
    refs: dict[str, list[str]] = {}
    errors = []
    fetch = {"notifications": tx.notification, "conflicts": tx.conflict, "incidents": tx.incident}
    # Incidents only when cited, so other messages keep the shape their signatures cover.
    for kind in ("notifications", "conflicts", *(["incidents"] if "incidents" in value else [])):
        ids = value.get(kind, [])
        if not isinstance(ids, list) or len(ids) > MAX_REFERENCES:
            errors.append(
                FieldError(f"references.{kind}", f"must be a list of ≤ {MAX_REFERENCES} ids")
            )
            continue
        for i, ref in enumerate(ids):
            row = fetch[kind](str(ref))
            visible = (
                row is not None
                and row["mechanism_id"] == mechanism["id"]
                and (
                    may_see(tx, row, actor, policy=policy)
                    if kind == "notifications"
                    else actor.party_id in (row["party_a"], row["party_b"])
                    if kind == "conflicts"
                    else actor.party_id in tx.incident_parties(row["id"])
                )
            )
            if not visible:
                errors.append(FieldError(f"references.{kind}[{i}]", "no such item visible to you"))
        refs[kind] = sorted(set(map(str, ids)))
    if errors:
        raise InvalidInput(errors)
    return refs


def _deadline(value: Any, mechanism: Row, now: datetime, priority: str) -> datetime:
    if value is None:
        return inbox.deadline(rules_of(mechanism), now, urgent=priority == "urgent")
    due = parse_instant(value, "ack_deadline")
    if due <= now:
        raise InvalidInput.one("ack_deadline", "must be in the future")
    if due > now + MAX_DEADLINE:
        raise InvalidInput.one("ack_deadline", "must be at most 7 days ahead")
    return due


def _reply_thread(tx: Transaction, actor: Actor, mechanism_id: str, parent: Any) -> str | None:
    if parent is None:
        return None
    try:
        row = _visible_message(tx, actor, str(parent))
    except NotFound:
        raise InvalidInput.one("in_reply_to", "no such message visible to you") from None
    if row["mechanism_id"] != mechanism_id:
        raise InvalidInput.one("in_reply_to", "is a message of another mechanism")
    return str(row["thread_id"])


def send(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str,
    data: dict[str, Any],
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """Send a party's message; every recipient must acknowledge it by its deadline."""
    sender = actor.require_party()
    with ctx.store.write() as tx:
        mechanism = visible_mechanism(tx, actor, mechanism_id)
        now = ctx.now()
        at = format_instant(now)

        def run() -> dict[str, Any]:
            kind = data.get("type")
            if kind not in TYPES:
                raise InvalidInput.one("type", f"must be one of {', '.join(TYPES)}")
            priority = data.get("priority", "routine")
            if priority not in PRIORITIES:
                raise InvalidInput.one("priority", f"must be one of {', '.join(PRIORITIES)}")
            content = {
                "mechanism_id": mechanism_id,
                "to": _recipients(tx, mechanism_id, sender, data.get("to")),
                "type": kind,
                "priority": priority,
                "body": checked_text(data.get("body"), "body", maximum=MAX_BODY, multiline=True),
                "references": _references(tx, actor, mechanism, data.get("references")),
                "attachment": _attachment(data.get("attachment"), mechanism),
                "in_reply_to": data.get("in_reply_to"),
            }
            thread = _reply_thread(tx, actor, mechanism_id, content["in_reply_to"])
            due = _deadline(data.get("ack_deadline"), mechanism, now, priority)
            signature = data.get("signature")
            signed = (
                None
                if signature is None
                else signing.verify_message(tx, sender, content, signature)
            )
            message_id = new_id("msg")
            row = {
                "id": message_id,
                "mechanism_id": mechanism_id,
                "sender_party": sender,
                "sender_token": actor.token_id,
                "type": kind,
                "priority": priority,
                "body": content["body"],
                "refs_json": dumps(content["references"]),
                "attachment_json": None
                if content["attachment"] is None
                else dumps(content["attachment"]),
                "recipients_json": dumps(content["to"]),
                "in_reply_to": content["in_reply_to"],
                "thread_id": thread or message_id,
                "signature": signature,
                "signed_json": None if signed is None else dumps(signed),
                "created_at": at,
            }
            recorded = _deliver(tx, row, due, at, by=actor)
            view = message_view(tx, row, actor, now.timestamp())
            return ledger.with_receipt(tx, ctx.keys, view, recorded.log_index, now)

        return once(tx, actor, request, at, run, mechanism_id=mechanism_id)


def _attachment(value: Any, mechanism: Row) -> dict[str, Any] | None:
    if value is None:
        return None
    area = parse_area(value, "attachment", max_area_km2=rules_of(mechanism).max_area_km2)
    return area.geojson


def content_of(row: Row) -> dict[str, Any]:
    """What a message says, as its log entry's content hash binds it."""
    return {
        "message_id": row["id"],
        "from": row["sender_party"],
        "to": json.loads(row["recipients_json"]),
        "type": row["type"],
        "priority": row["priority"],
        "body": row["body"],
        "references": json.loads(row["refs_json"]),
        "attachment": None
        if row["attachment_json"] is None
        else json.loads(row["attachment_json"]),
        "in_reply_to": row["in_reply_to"],
        "signature": row["signature"],
    }


def _deliver(
    tx: Transaction,
    row: Row,
    due: datetime,
    at: str,
    *,
    by: Actor | None,
    logged_with: Recorded | None = None,
) -> Recorded:
    """Store the message, put it in each recipient's inbox, send and log it (in its own entry,
    or, for an announcement, in the entry of the change it announces: `logged_with`)."""
    tx.insert_message(row)
    recipients = json.loads(row["recipients_json"])
    for party in recipients:
        inbox.require_ack(
            tx,
            mechanism_id=row["mechanism_id"],
            party_id=party,
            subject_id=row["id"],
            version=1,
            sender_party=row["sender_party"],
            due=due,
            at=at,
        )
    audience = [*recipients, *([row["sender_party"]] if row["sender_party"] else [])]
    return record_event(
        tx,
        row["mechanism_id"],
        "message.sent",
        row["id"],
        audience,
        _sent(row, due),
        at,
        by=by,
        content=None if logged_with else content_of(row),
        logged_with=logged_with,
    )


def _sent(row: Row, due: datetime) -> dict[str, Any]:
    """The message.sent event's payload (and its entry's data, with the event's id)."""
    return {
        "message_id": row["id"],
        "from": row["sender_party"],
        "to": json.loads(row["recipients_json"]),
        "type": row["type"],
        "priority": row["priority"],
        "thread_id": row["thread_id"],
        "ack_deadline": format_instant(due),
    }


class SystemMessage:
    """A message from the service itself, made before it is delivered: on its own
    (`system_message`), or as the announcement of a change to exactly that change's audience.

    An announcement has no log entry of its own: the change's entry records it — its fields
    (those of a `message.sent` entry) under `data.announcement`, its content bound by the entry's
    `content_sha256` — so one receipt proves both what changed and that both sides were told.
    Give it to the change's event (`record_event(..., announcement=)`), then deliver it with that
    event's `Recorded` (`deliver_system_message(..., logged_with=)`).
    """

    def __init__(self, row: Row, due: datetime) -> None:
        self.row, self.due = row, due

    @property
    def message_id(self) -> str:
        return str(self.row["id"])

    @property
    def entry_data(self) -> dict[str, Any]:
        return _sent(self.row, self.due)

    @property
    def content(self) -> dict[str, Any]:
        return content_of(self.row)


def compose_system_message(
    mechanism_id: str,
    rules: Rules,
    *,
    to: list[str],
    body: str,
    references: dict[str, list[str]],
    now: datetime,
    priority: str = "routine",
) -> SystemMessage:
    """A message from the service to the parties `to`, not yet stored or sent."""
    message_id = new_id("msg")
    row = {
        "id": message_id,
        "mechanism_id": mechanism_id,
        "sender_party": None,
        "sender_token": None,
        "type": "notice",
        "priority": priority,
        "body": body,
        "refs_json": dumps({k: sorted(v) for k, v in references.items()}),
        "attachment_json": None,
        "recipients_json": dumps(sorted(set(to))),
        "in_reply_to": None,
        "thread_id": message_id,
        "signature": None,
        "signed_json": None,
        "created_at": format_instant(now),
    }
    return SystemMessage(row, inbox.deadline(rules, now, urgent=priority == "urgent"))


def deliver_system_message(
    tx: Transaction, message: SystemMessage, *, logged_with: Recorded | None = None
) -> None:
    """Store and send a message of the service: logged in its own entry, or, for an
    announcement, in the entry of the change it announces (`logged_with`)."""
    _deliver(
        tx, message.row, message.due, message.row["created_at"], by=None, logged_with=logged_with
    )


def system_message(
    tx: Transaction,
    mechanism_id: str,
    rules: Rules,
    *,
    to: list[str],
    body: str,
    references: dict[str, list[str]],
    now: datetime,
    priority: str = "routine",
) -> None:
    """A message from the service itself, with its own log entry, unless `to` is empty;
    recipients acknowledge it like any other."""
    if to:
        message = compose_system_message(
            mechanism_id, rules, to=to, body=body, references=references, now=now, priority=priority
        )
        deliver_system_message(tx, message)


def message_view(tx: Transaction, row: Row, actor: Actor, now: float) -> dict[str, Any]:
    """The message; its sender and the operator also see every recipient's status."""
    recipients = json.loads(row["recipients_json"])
    view: dict[str, Any] = {
        "id": row["id"],
        "mechanism_id": row["mechanism_id"],
        "from": row["sender_party"],
        "system": row["sender_party"] is None,
        "to": recipients,
        "type": row["type"],
        "priority": row["priority"],
        "body": row["body"],
        "references": json.loads(row["refs_json"]),
        "attachment": None
        if row["attachment_json"] is None
        else json.loads(row["attachment_json"]),
        "in_reply_to": row["in_reply_to"],
        "thread_id": row["thread_id"],
        "created_at": row["created_at"],
        "signature": None if row["signature"] is None else _signature_view(row),
    }
    items = {item["party_id"]: item for item in tx.inbox_items_of(row["id"])}
    if actor.is_operator or actor.party_id == row["sender_party"]:
        view["recipients"] = [inbox.item_view(items[p], now) for p in recipients if p in items]
    elif actor.party_id in items:
        view["own_status"] = inbox.item_view(items[actor.party_id], now)
    return view


def _signature_view(row: Row) -> dict[str, Any]:
    signed = json.loads(row["signed_json"])
    return {
        "algorithm": signed["algorithm"],
        "value": row["signature"],
        "public_key": signed["public_key"],
        "signed": signed["content"],
    }


def get_message(ctx: Context, actor: Actor, *, message_id: str) -> dict[str, Any]:
    """One message; fetching it counts as its delivery to a recipient."""
    with ctx.store.read() as tx:
        _visible_message(tx, actor, message_id)
    if actor.party_id is not None:
        inbox.mark_delivered(ctx, actor.party_id, [message_id], "fetched")
    with ctx.store.read() as tx:
        return message_view(
            tx, _visible_message(tx, actor, message_id), actor, ctx.now().timestamp()
        )


def list_messages(
    ctx: Context,
    actor: Actor,
    *,
    folder: str = "all",
    mechanism_id: str | None = None,
    thread_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The caller's messages, newest first; listing them counts as their delivery."""
    if folder not in FOLDERS:
        raise InvalidInput.one("folder", f"must be one of {', '.join(FOLDERS)}")
    with ctx.store.read() as tx:
        if mechanism_id is not None:
            visible_mechanism(tx, actor, mechanism_id)
        rows = tx.messages(
            party=actor.party_id,
            folder=folder,
            mechanism_id=mechanism_id,
            thread_id=thread_id,
            limit=min(limit, MAX_LIST),
        )
    if actor.party_id is not None:
        inbox.mark_delivered(ctx, actor.party_id, [r["id"] for r in rows], "fetched")
    now = ctx.now().timestamp()
    with ctx.store.read() as tx:
        return [message_view(tx, r, actor, now) for r in rows]


def acknowledge_message(
    ctx: Context, actor: Actor, *, message_id: str, request: RequestKey | None = None
) -> dict[str, Any]:
    """Record that the caller's party received and read the message."""
    party = actor.require_party()
    with ctx.store.write() as tx:
        row = _visible_message(tx, actor, message_id)
        if party not in json.loads(row["recipients_json"]):
            raise StateConflict("only a recipient acknowledges a message")
        moment = ctx.now()
        at = format_instant(moment)

        def run() -> dict[str, Any]:
            return acknowledgements.acknowledge(
                tx,
                actor,
                subject_type="message",
                subject_id=message_id,
                version=1,
                mechanism_id=row["mechanism_id"],
                audience=[party, *([row["sender_party"]] if row["sender_party"] else [])],
                keys=ctx.keys,
                now=moment,
            )

        return once(tx, actor, request, at, run, mechanism_id=row["mechanism_id"])
