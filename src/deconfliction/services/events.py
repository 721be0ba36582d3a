"""Events: every state change is stored with its audience, in the transaction that made it, and
appended to the transparency log (services/ledger.py) in the same transaction.

Delivery (live stream, webhooks) reads them from the store after commit; nothing is sent from
inside a transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deconfliction.services import ledger
from deconfliction.services.context import Actor
from deconfliction.services.ports import Transaction
from deconfliction.services.stored_json import dumps

if TYPE_CHECKING:
    from deconfliction.services.messages import SystemMessage


class Recorded:
    """Where an event went: its id on the line and its entry in the log, known once the
    transaction has written its deferred appends (asking for either writes them)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.ids: tuple[int, int] | None = None

    @property
    def event_id(self) -> int:
        return self._written()[0]

    @property
    def log_index(self) -> int:
        return self._written()[1]

    def _written(self) -> tuple[int, int]:
        self.tx.flush()
        assert self.ids is not None, "the event's append did not run"
        return self.ids


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
    announcement: SystemMessage | None = None,
    logged_with: Recorded | None = None,
) -> Recorded:
    """Store an event for the given parties (the operator sees every event) and log it.

    `by` is who caused it (None: the service itself); `content` what it is about in full, bound
    into the log entry by its hash. With `token_id` only that token of the audience sees it (an
    escalation to a duty officer); `webhooks` are endpoints that must carry it besides the
    audience's own event webhooks. The webhook outbox is written in the same transaction, so no
    event is ever left unsent.

    With `announcement`, the service's system message announcing this change to its audience,
    the entry records that message too (its fields under `data.announcement`, its content
    bound by `content_sha256`); that message's own event then passes this event's `Recorded`
    as `logged_with` and appends no entry of its own.

    The event and its entry are appended when the transaction flushes its deferred actions (at
    its commit, or when a receipt is asked for), so the event ids and leaf indexes, handed out
    one transaction at a time, are held only for the appends (storage/deferred.py). What can be
    worked out before — the audience, the JSON, the content's hash — is worked out now.
    """
    parties = sorted(set(audience))
    row = {
        "mechanism_id": mechanism_id,
        "type": event_type,
        "subject_id": subject_id,
        "audience_json": dumps(parties),
        "payload_json": dumps(payload),
        "created_at": at,
        "token_id": token_id,
    }
    recorded = Recorded(tx)
    if logged_with is not None:

        def append_logged_with() -> None:
            event_id = tx.append_event(row, parties, list(webhooks))
            assert logged_with.ids is not None, "the announced change's entry comes first"
            recorded.ids = (event_id, logged_with.ids[1])

        tx.defer(append_logged_with)
        return recorded
    entry_data: dict[str, Any] = {}
    if announcement is not None:
        if content is not None:
            raise ValueError("an announced change's content is its announcement's")
        content, entry_data = announcement.content, {"announcement": announcement.entry_data}
    digest = None if content is None else ledger.content_sha256(content)

    def append() -> None:
        event_id = tx.append_event(row, parties, list(webhooks))
        index = ledger.record(
            tx,
            event_type,
            at=at,
            mechanism_id=mechanism_id,
            subject_id=subject_id,
            announcement_id=None if announcement is None else announcement.message_id,
            audience=parties,
            by=by,
            data={**payload, "event_id": event_id, **entry_data},
            content_digest=digest,
        )
        recorded.ids = (event_id, index)

    tx.defer(append)
    return recorded
