"""Events: every state change is stored with its audience, in the transaction that made it, and
appended to the transparency log (services/ledger.py) in the same transaction.

Delivery (live stream, webhooks) reads them from the store after commit; nothing is sent from
inside a transaction.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from deconfliction.services import ledger
from deconfliction.services.context import Actor, dumps
from deconfliction.services.ports import Transaction


class Recorded(NamedTuple):
    """Where an event went: its id on the line and its entry in the log."""

    event_id: int
    log_index: int


def record_event(
    tx: Transaction,
    mechanism_id: str,
    event_type: str,
    subject_id: str,
    audience: list[str],
    payload: dict[str, Any],
    at: str,
    *,
    by: Actor | None = None,
    content: Any = None,
    token_id: str | None = None,
    webhooks: tuple[str, ...] = (),
) -> Recorded:
    """Store an event for the given parties (the operator sees every event) and log it.

    `by` is who caused it (None: the service itself); `content` what it is about in full, bound
    into the log entry by its hash. With `token_id` only that token of the audience sees it (an
    escalation to a duty officer); `webhooks` are endpoints that must carry it besides the
    audience's own event webhooks. The webhook outbox is written in the same transaction, so no
    event is ever left unsent.
    """
    parties = sorted(set(audience))
    event_id = tx.append_event(
        {
            "mechanism_id": mechanism_id,
            "type": event_type,
            "subject_id": subject_id,
            "audience_json": dumps(parties),
            "payload_json": dumps(payload),
            "created_at": at,
            "token_id": token_id,
        },
        parties,
        list(webhooks),
    )
    log_index = ledger.record(
        tx,
        event_type,
        at=at,
        mechanism_id=mechanism_id,
        subject_id=subject_id,
        audience=parties,
        by=by,
        data={**payload, "event_id": event_id},
        content=content,
    )
    return Recorded(event_id, log_index)
