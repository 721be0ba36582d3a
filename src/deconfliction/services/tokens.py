"""Bearer tokens: random, shown once, stored as SHA-256 hashes, revocable."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from deconfliction.domain.times import format_instant
from deconfliction.errors import InvalidInput, NotFound, StateConflict, Unauthenticated
from deconfliction.services import ledger
from deconfliction.services.admin import party_view
from deconfliction.services.context import Actor, Context, RequestKey, new_id, once
from deconfliction.services.ports import Row, Transaction
from deconfliction.services.text import checked_text

TOKEN_PREFIX = "dcf_"
MIN_TOKEN_LENGTH = 32
MAX_TOKEN_LENGTH = 256


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a plain hash cannot be reversed by guessing.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_view(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "party_id": row["party_id"],
        "label": row["label"],
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
    }


def authenticate(ctx: Context, token: str | None) -> Actor:
    """The actor a bearer token stands for; unknown and revoked tokens are refused alike."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("a valid bearer token is required")
    with ctx.store.lookup() as tx:
        row = tx.token_by_hash(hash_token(token))
    if row is None or row["revoked_at"] is not None:
        raise Unauthenticated("a valid bearer token is required")
    return Actor(token_id=row["id"], party_id=row["party_id"])


def _insert(
    tx: Transaction, *, token: str, party_id: str | None, label: str, at: str, by: Actor | None
) -> tuple[Row, int]:
    """Store a token (its hash only) and log its creation; (row, log index)."""
    row = {
        "id": new_id("tok"),
        "token_hash": hash_token(token),
        "party_id": party_id,
        "label": label,
        "created_at": at,
        "revoked_at": None,
    }
    tx.insert_token(row)
    index = ledger.record(
        tx,
        "token.created",
        at=at,
        mechanism_id=None,
        subject_id=row["id"],
        audience=[party_id] if party_id is not None else [],
        by=by,
        data={"token_id": row["id"], "party_id": party_id, "label": label},
    )
    return row, index


def create_operator_token(ctx: Context, *, label: str = "operator") -> str:
    """A new operator token; the caller shows it once."""
    token = new_token()
    with ctx.store.write() as tx:
        _insert(tx, token=token, party_id=None, label=label, at=format_instant(ctx.now()), by=None)
    return token


def ensure_operator_token(ctx: Context, token: str) -> bool:
    """Make a given token (e.g. from DECONFLICTION_OPERATOR_TOKEN) an operator token."""
    if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH or not token.isprintable():
        raise InvalidInput.one(
            "DECONFLICTION_OPERATOR_TOKEN",
            f"must be {MIN_TOKEN_LENGTH}–{MAX_TOKEN_LENGTH} printable characters",
        )
    with ctx.store.write() as tx:
        existing = tx.token_by_hash(hash_token(token))
        if existing is not None:
            if existing["party_id"] is not None or existing["revoked_at"] is not None:
                raise InvalidInput.one(
                    "DECONFLICTION_OPERATOR_TOKEN", "is a party's token or a revoked token"
                )
            return False
        _insert(
            tx,
            token=token,
            party_id=None,
            label="operator (environment)",
            at=format_instant(ctx.now()),
            by=None,
        )
        return True


def whoami(ctx: Context, actor: Actor) -> dict[str, Any]:
    """Who a token belongs to: the operator, or a party."""
    party = None
    if actor.party_id is not None:
        with ctx.store.read() as tx:
            party = tx.party(actor.party_id)
    return {
        "token_id": actor.token_id,
        "role": "operator" if actor.is_operator else "party",
        "party": None if party is None else party_view(party),
    }


def has_operator_token(ctx: Context) -> bool:
    with ctx.store.read() as tx:
        return any(row["revoked_at"] is None for row in tx.tokens(None))


TOKEN_REPLAYED = (
    "this Idempotency-Key already created a token; a token is shown only once — "
    "revoke it and create another if it was lost"
)


def create_party_token(
    ctx: Context, actor: Actor, *, party_id: str, label: str, request: RequestKey | None = None
) -> dict[str, Any]:
    """A new token for a party's member (operator only); the response shows it once."""
    actor.require_operator()
    label = checked_text(label, "label", maximum=200, required=False)
    with ctx.store.write() as tx:
        if tx.party(party_id) is None:
            raise NotFound(f"no party {party_id}")
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            token = new_token()
            row, index = _insert(tx, token=token, party_id=party_id, label=label, at=now, by=actor)
            view = {**token_view(row), "token": token}
            return ledger.with_receipt(tx, ctx.keys, view, index, moment)

        return once(tx, actor, request, now, run, secret=TOKEN_REPLAYED)


def list_tokens(ctx: Context, actor: Actor, *, party_id: str) -> list[dict[str, Any]]:
    """A party's tokens, never their secrets: the operator's, or a party's own."""
    if not actor.is_operator and actor.party_id != party_id:
        raise NotFound(f"no party {party_id}")
    with ctx.store.read() as tx:
        if tx.party(party_id) is None:
            raise NotFound(f"no party {party_id}")
        return [token_view(row) for row in tx.tokens(party_id)]


def revoke_token(ctx: Context, actor: Actor, *, token_id: str) -> dict[str, Any]:
    """Revoke a token: the operator any, a party its own party's."""
    with ctx.store.write() as tx:
        row = tx.token(token_id)
        if row is None or (not actor.is_operator and row["party_id"] != actor.party_id):
            raise NotFound(f"no token {token_id}")
        active_operators = [t for t in tx.tokens(None) if t["revoked_at"] is None]
        if row["party_id"] is None and [t["id"] for t in active_operators] == [token_id]:
            raise StateConflict("this is the last operator token; create another one first")
        moment = ctx.now()
        if row["revoked_at"] is not None:
            return ledger.with_earlier_receipt(
                tx, ctx.keys, token_view(row), "token.revoked", token_id, moment
            )
        tx.revoke_token(token_id, format_instant(moment))
        revoked = tx.token(token_id)
        assert revoked is not None
        return ledger.logged(
            tx,
            ctx.keys,
            token_view(revoked),
            "token.revoked",
            at=moment,
            by=actor,
            subject_id=token_id,
            audience=[row["party_id"]] if row["party_id"] is not None else [],
            data={"token_id": token_id, "party_id": row["party_id"]},
        )
