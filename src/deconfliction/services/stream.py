"""The live line's use case: pages of the stored events a token may see, and each event's view.

Events are stored with their audience in the transaction that made them, so a client that was
disconnected misses nothing: it asks for the events after the last id it saw. Whether a party may
see an event was decided when the event was written (its audience; for an escalation, the one
token it is addressed to); a revoked token sees nothing more. The transport (server-sent events,
a JSON page) is the API's business, not this module's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deconfliction.errors import InvalidInput, Unauthenticated
from deconfliction.services import inbox, line_status
from deconfliction.services.context import Actor, Context
from deconfliction.services.ports import Row, Transaction

MAX_LIMIT = 1_000
# Event ids are SQLite integers; anything longer than this cannot be one.
MAX_CURSOR = 2**63 - 1


@dataclass(frozen=True)
class Page:
    """Events after a cursor, oldest first, and where to resume."""

    events: list[dict[str, Any]]
    last_event_id: int
    """The id to resume after: the last event's in the page, or the cursor asked for if none."""
    newest: int
    """The newest event id stored (whoever may see it) when the page was read."""


def event_view(row: Row) -> dict[str, Any]:
    """An event as every transport shows it; `data` is its payload."""
    return {
        "id": row["id"],
        "type": row["type"],
        "mechanism_id": row["mechanism_id"],
        "subject_id": row["subject_id"],
        "created_at": row["created_at"],
        "data": json.loads(row["payload_json"]),
    }


def cursor(value: str | None, field: str) -> int | None:
    """A resume point sent as text (the `Last-Event-ID` header): a whole number ≥ 0, or None."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_CURSOR:
        raise InvalidInput.one(field, "must be the id of an event received, a whole number ≥ 0")
    return int(text)


def _require_live(tx: Transaction, actor: Actor) -> None:
    # Checked on every page, so a token revoked while its stream is open stops receiving.
    token = tx.token(actor.token_id)
    if token is None or token["revoked_at"] is not None:
        raise Unauthenticated("a valid bearer token is required")


def _require_known(tx: Transaction, after: int, field: str) -> int:
    newest = tx.last_event_id()
    if after > newest:
        # Event ids never go backwards; a cursor ahead of them comes from another database
        # (a restored backup, a fresh install): waiting for it would silently lose events.
        raise InvalidInput.one(
            field,
            f"{after} is ahead of the newest event ({newest}); the database may have been "
            "replaced — resume from 0 to receive every stored event",
        )
    return newest


def newest(ctx: Context, actor: Actor) -> int:
    """The id of the newest stored event: where a live-only stream starts."""
    with ctx.store.read() as tx:
        _require_live(tx, actor)
        return tx.last_event_id()


def page(ctx: Context, actor: Actor, *, after: int, limit: int, field: str = "after") -> Page:
    """Up to `limit` events after `after` that the actor's token may see, oldest first.

    A party sees the events whose audience includes it (those addressed to one token only by that
    token); the operator sees every event. `field` names the cursor in an error.
    """
    if not 0 <= after <= MAX_CURSOR:
        raise InvalidInput.one(field, "must be a whole number ≥ 0")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput.one("limit", f"must be 1–{MAX_LIMIT}")
    with ctx.store.read() as tx:
        _require_live(tx, actor)
        newest_id = _require_known(tx, after, field)
        rows = tx.events_after(actor.party_id, actor.token_id, after, limit)
    events = [event_view(row) for row in rows]
    return Page(events, events[-1]["id"] if events else after, newest_id)


def listen(ctx: Context, actor: Actor, *, after: int, limit: int) -> Page:
    """The next page of an open stream. A party listening on the line is in contact with it, so
    this also records its contact (at most every 30 s), as any request does."""
    result = page(ctx, actor, after=after, limit=limit)
    line_status.heard_from(ctx, actor)
    return result


def still_listening(ctx: Context, actor: Actor) -> None:
    """An open stream's periodic check: its token is still valid (else Unauthenticated), and
    its party, listening, is in contact with the line."""
    with ctx.store.read() as tx:
        _require_live(tx, actor)
    line_status.heard_from(ctx, actor)


def record_delivery(ctx: Context, actor: Actor, events: list[dict[str, Any]], via: str) -> None:
    """The party has now been sent these events: the first delivery of their subjects.

    `via` is `stream` or `fetched`. The operator's reading delivers nothing to any party.
    """
    if actor.party_id is None or not events:
        return
    inbox.mark_delivered(ctx, actor.party_id, [e["subject_id"] for e in events], via)
