"""What every use case gets: the store, the clock, who is acting, and how to run idempotently."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from deconfliction.domain.rules import Rules
from deconfliction.errors import IdempotencyKeyReused, NotFound, PermissionDenied, StateConflict
from deconfliction.services import stored_json
from deconfliction.services.ports import Clock, Row, Store, Transaction

MAX_RULES_SEEN = 4_096


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServiceKeys:
    """The key the service signs its log with now, and the file it lives in (service_keys.py)."""

    current: SigningKey
    path: Path
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


@dataclass
class Context:
    """The service's dependencies, injected so tests can use a real file and move the clock."""

    store: Store
    keys: ServiceKeys
    clock: Clock = system_clock
    heard: dict[str, float] = field(default_factory=dict)
    shard: str | None = None  # its name in a deployment over several databases
    rules_seen: dict[str, Rules] = field(default_factory=dict)  # see remember_rules

    def now(self) -> datetime:
        return self.clock()

    def remember_rules(self, mechanism_id: str, rules: Rules) -> None:
        """Keep the rules a mechanism had when last read, for work that can be done before the
        next write in it begins and is checked against the rules read then (a few thousand
        mechanisms at most: past that, the memory starts again)."""
        if len(self.rules_seen) >= MAX_RULES_SEEN and mechanism_id not in self.rules_seen:
            self.rules_seen.clear()
        self.rules_seen[mechanism_id] = rules


@dataclass(frozen=True)
class Actor:
    """Who is calling: a token, and the party it belongs to (None for the operator)."""

    token_id: str
    party_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.party_id is None

    def require_operator(self) -> None:
        if not self.is_operator:
            raise PermissionDenied("only the operator may do this")

    def require_party(self) -> str:
        if self.party_id is None:
            raise PermissionDenied("only a party may do this; the operator token is not a party")
        return self.party_id


@dataclass(frozen=True)
class RequestKey:
    """An Idempotency-Key and a fingerprint of the request it was sent with."""

    key: str
    fingerprint: str


def new_id(prefix: str) -> str:
    """A random, unguessable identifier such as `ntf_3f9c0e1a2b4d5e6f`."""
    return f"{prefix}_{secrets.token_hex(8)}"


def once(
    tx: Transaction,
    actor: Actor,
    request: RequestKey | None,
    now: str,
    run: Callable[[], dict[str, Any]],
    *,
    secret: str | None = None,
    mechanism_id: str | None = None,
) -> dict[str, Any]:
    """Run a write use case at most once per Idempotency-Key, replaying the first response.

    Runs inside the use case's transaction, so the response is stored together with its effects.
    A response that shows a secret (a new token, a webhook's signing secret) is not stored: a
    replay is refused with the `secret` message instead of showing it again. `mechanism_id`, the
    mechanism a request is routed by (its path names it or something in it), keeps the record
    with that mechanism's rows when it moves to another shard.
    """
    if request is None:
        return run()
    stored = tx.idempotent_response(actor.token_id, request.key)
    if stored is not None:
        if stored["fingerprint"] != request.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request"
            )
        if stored["response_json"] is None:
            raise StateConflict(secret or "this Idempotency-Key was already used")
        result: dict[str, Any] = stored_json.loads(stored["response_json"])
        return result
    response = run()
    tx.store_idempotent_response(
        {
            "token_id": actor.token_id,
            "key": request.key,
            "fingerprint": request.fingerprint,
            "response_json": None if secret is not None else stored_json.dumps(response),
            "created_at": now,
            "mechanism_id": mechanism_id,
        }
    )
    return response


def rules_of(mechanism: Row) -> Rules:
    """The rules of a stored mechanism (rules added since it was made take their defaults)."""
    return Rules(**stored_json.loads(mechanism["rules_json"]))


def mechanism_seen_by(tx: Transaction, actor: Actor, mechanism_id: str) -> Row | None:
    """The mechanism if the actor may see it (operator, or a member), read in one statement."""
    if actor.party_id is None:
        return tx.mechanism(mechanism_id)
    return tx.members_mechanism(mechanism_id, actor.party_id)


def visible_mechanism(tx: Transaction, actor: Actor, mechanism_id: str) -> Row:
    """The mechanism if the actor may see it (operator, or a member); else NotFound."""
    mechanism = mechanism_seen_by(tx, actor, mechanism_id)
    if mechanism is None:
        raise NotFound(f"no mechanism {mechanism_id}")
    return mechanism
