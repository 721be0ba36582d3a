"""Events: every state change is stored with its audience, in the transaction that made it.

Delivery (live stream, webhooks) reads them from the store after commit; nothing is sent from
inside a transaction.
"""

from __future__ import annotations

from typing import Any

from deconfliction.services.context import dumps
from deconfliction.services.ports import Transaction


def record_event(
    tx: Transaction,
    mechanism_id: str,
    event_type: str,
    subject_id: str,
    audience: list[str],
    payload: dict[str, Any],
    at: str,
    *,
    token_id: str | None = None,
    webhooks: tuple[str, ...] = (),
) -> int:
    """Store an event for the given parties (the operator sees every event).

    With `token_id` only that token of the audience sees it (an escalation to a duty officer);
    `webhooks` are endpoints that must carry it besides the audience's own event webhooks.
    The webhook outbox is written in the same transaction, so no event is ever left unsent.
    """
    parties = sorted(set(audience))
    return tx.append_event(
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
