"""Webhook endpoints: a party registers, lists and deletes them and reads their delivery log.

Delivery itself (the outbox, signing, retries) is services/webhook_delivery.py.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
import socket
from typing import Any
from urllib.parse import urlsplit

from deconfliction.domain.times import format_instant, from_epoch
from deconfliction.errors import InvalidInput, NotFound, StateConflict
from deconfliction.services import ledger
from deconfliction.services.context import Actor, Context, RequestKey, new_id, once
from deconfliction.services.ports import Row, Transaction

PURPOSES = ("events", "escalation")
MAX_URL = 2_000
MAX_WEBHOOKS = 20
MAX_LOG = 1_000
SECRET_PREFIX = "whsec_"
DELETED = "the webhook was deleted"
ALLOW_PRIVATE = "DECONFLICTION_WEBHOOK_ALLOW_PRIVATE"


class RefusedAddress(ValueError):
    """A webhook host that is, or resolves to, an address the service must not call."""


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def checked_url(url: Any) -> str:
    """An absolute http(s) URL with a host and no credentials in it; else InvalidInput on `url`."""
    if not isinstance(url, str) or not url:
        raise InvalidInput.one("url", "is required: the http or https address to send events to")
    if len(url) > MAX_URL:
        raise InvalidInput.one("url", f"must be at most {MAX_URL:,} characters")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidInput.one("url", "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as error:
        raise InvalidInput.one("url", f"is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput.one("url", "must start with http:// or https://")
    if not parts.hostname:
        raise InvalidInput.one("url", "must name a host, e.g. https://hooks.example.org/line")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput.one("url", "must not carry a user name or password; use the signature")
    if parts.fragment:
        raise InvalidInput.one("url", "must not have a #fragment")
    return url


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _refused(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


def resolve(url: str) -> list[IPAddress]:
    """The addresses a URL's host is, or resolves to now; RefusedAddress if it does not resolve."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise RefusedAddress(f"the host {host} could not be resolved ({error})") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


def check_address(url: str, addresses: list[IPAddress] | None = None) -> None:
    """Refuse a URL whose host is or resolves to a loopback, private, link-local, multicast or
    unspecified address, so a webhook cannot reach into the service's own network (SSRF)."""
    for address in resolve(url) if addresses is None else addresses:
        if _refused(address):
            host = urlsplit(url).hostname
            raise RefusedAddress(
                f"the host {host} is or resolves to {address}, not a public address (loopback, "
                f"private, link-local, multicast or unspecified); the operator may allow such "
                f"addresses with {ALLOW_PRIVATE}=true"
            )


def address_to_call(url: str, *, allow_private: bool) -> str:
    """The one address a delivery connects to: the host's, resolved once and checked (unless
    private addresses are allowed). Connecting to it, not to the name, means a name that
    resolves differently a moment later (DNS rebinding) cannot redirect the call."""
    addresses = resolve(url)
    if not allow_private:
        check_address(url, addresses)
    return str(addresses[0])


def webhook_view(row: Row, pending: int = 0) -> dict[str, Any]:
    """An endpoint as its party (or the operator) sees it; the secret is never shown again."""
    return {
        "id": row["id"],
        "party_id": row["party_id"],
        "url": row["url"],
        "purpose": row["purpose"],
        "created_at": row["created_at"],
        "deleted_at": row["deleted_at"],
        "pending": pending,
        "last_success_at": row["last_success_at"],
        "last_failure_at": row["last_failure_at"],
        "last_error": row["last_error"],
    }


WEBHOOK_REPLAYED = (
    "this Idempotency-Key already registered a webhook; its secret is shown only once — "
    "delete that webhook and register another if the secret was lost"
)


def register(
    ctx: Context,
    actor: Actor,
    *,
    url: Any,
    purpose: Any = "events",
    allow_private: bool = False,
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """A new endpoint for the caller's party; the answer shows its signing secret, once."""
    party = actor.require_party()
    checked = checked_url(url)
    if purpose not in PURPOSES:
        raise InvalidInput.one("purpose", f"must be one of {', '.join(PURPOSES)}")
    if not allow_private:
        try:
            check_address(checked)  # before the transaction: resolving a name may take a while
        except RefusedAddress as error:
            raise InvalidInput.one("url", str(error)) from None
    with ctx.store.write() as tx:
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            if tx.count_webhooks(party) >= MAX_WEBHOOKS:
                raise StateConflict(
                    f"a party may have at most {MAX_WEBHOOKS} webhooks; delete one first"
                )
            row = {
                "id": new_id("whk"),
                "party_id": party,
                "url": checked,
                "secret": new_secret(),
                "purpose": purpose,
                "created_at": now,
                "deleted_at": None,
                "last_success_at": None,
                "last_failure_at": None,
                "last_error": None,
            }
            tx.insert_webhook(row)
            return ledger.logged(
                tx,
                ctx.keys,
                {**webhook_view(row), "secret": row["secret"]},
                "webhook.registered",
                at=moment,
                by=actor,
                subject_id=row["id"],
                audience=[party],
                # The URL may carry a secret of the receiver: the log binds it by its hash.
                data={
                    "webhook_id": row["id"],
                    "url_sha256": hashlib.sha256(checked.encode()).hexdigest(),
                    "purpose": purpose,
                },
            )

        return once(tx, actor, request, now, run, secret=WEBHOOK_REPLAYED)


def _visible(tx: Transaction, actor: Actor, webhook_id: str) -> Row:
    """The endpoint if it is the caller's party's (any, for the operator); else NotFound."""
    row = tx.webhook(webhook_id)
    if row is None or (actor.party_id is not None and row["party_id"] != actor.party_id):
        raise NotFound(f"no webhook {webhook_id}")
    return row


def list_webhooks(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """The caller's party's live endpoints (every party's for the operator)."""
    with ctx.store.read() as tx:
        rows = tx.webhooks(actor.party_id)
        pending = tx.pending_deliveries([r["id"] for r in rows])
    return [webhook_view(r, pending.get(r["id"], 0)) for r in rows]


def get_webhook(ctx: Context, actor: Actor, *, webhook_id: str) -> dict[str, Any]:
    with ctx.store.read() as tx:
        row = _visible(tx, actor, webhook_id)
        pending = tx.pending_deliveries([webhook_id])
    return webhook_view(row, pending.get(webhook_id, 0))


def delete_webhook(ctx: Context, actor: Actor, *, webhook_id: str) -> dict[str, Any]:
    """Stop an endpoint: nothing more is sent to it; what still waited is marked failed.

    Its delivery log stays readable. Deleting it again changes nothing.
    """
    with ctx.store.write() as tx:
        row = _visible(tx, actor, webhook_id)
        moment = ctx.now()
        if row["deleted_at"] is not None:
            return ledger.with_earlier_receipt(
                tx, ctx.keys, webhook_view(row), "webhook.deleted", webhook_id, moment
            )
        tx.delete_webhook(webhook_id, format_instant(moment))
        failed = tx.fail_pending_deliveries(webhook_id, DELETED)
        deleted = tx.webhook(webhook_id)
        assert deleted is not None
        return ledger.logged(
            tx,
            ctx.keys,
            webhook_view(deleted),
            "webhook.deleted",
            at=moment,
            by=actor,
            subject_id=webhook_id,
            audience=[row["party_id"]],
            data={"webhook_id": webhook_id, "deliveries_given_up": failed},
        )


def message_id(event_id: int, shard: str | None = None) -> str:
    """The `webhook-id` of an event: the same on every retry, so receivers can drop repeats.
    Each shard of a deployment over several databases numbers its own events, so there it
    names the shard."""
    return f"evt_{event_id}" if shard is None else f"evt_{shard}_{event_id}"


def delivery_log(
    ctx: Context, actor: Actor, *, webhook_id: str, limit: int = 100
) -> dict[str, Any]:
    """The endpoint's latest events with their delivery state, and its latest attempts."""
    limit = max(1, min(limit, MAX_LOG))
    with ctx.store.read() as tx:
        _visible(tx, actor, webhook_id)
        events = tx.deliveries(webhook_id, limit)
        attempts = tx.delivery_attempts(webhook_id, limit)
    return {
        "webhook_id": webhook_id,
        "events": [_delivery_view(row, ctx.shard) for row in events],
        "attempts": [
            {
                "event_id": a["event_id"],
                "webhook_message_id": message_id(a["event_id"], ctx.shard),
                "attempted_at": a["attempted_at"],
                "status": a["status"],
                "error": a["error"],
                "duration_ms": round(a["duration_ms"], 1),
            }
            for a in attempts
        ],
    }


def _delivery_view(row: Row, shard: str | None) -> dict[str, Any]:
    waiting = row["state"] == "pending" and row["next_attempt_ts"] > 0
    return {
        "event_id": row["event_id"],
        "webhook_message_id": message_id(row["event_id"], shard),
        "type": row["type"],
        "subject_id": row["subject_id"],
        "state": row["state"],
        "attempt_count": row["attempts"],
        # None while pending: sent as soon as the endpoint's earlier events are done.
        "next_attempt_at": format_instant(from_epoch(row["next_attempt_ts"])) if waiting else None,
        "created_at": row["created_at"],
        "delivered_at": row["delivered_at"],
        "last_status": row["last_status"],
        "last_error": row["last_error"],
    }
