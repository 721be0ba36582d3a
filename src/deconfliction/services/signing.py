"""Signed messages: a party's Ed25519 key, and detached signatures over RFC 8785 canonical JSON.

A party registers its public key; a message may then carry a signature over the canonical JSON
of what it says (mechanism, recipients, type, priority, body, references, attachment, reply-to).
The service refuses a signature that does not verify and stores the signed content with the key
that verified it, so a recipient can check it again offline without trusting the service.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import rfc8785
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from deconfliction.domain.times import format_instant
from deconfliction.errors import InvalidInput, NotFound
from deconfliction.services import ledger
from deconfliction.services.context import Actor, Context
from deconfliction.services.ports import Transaction

ALGORITHM = "Ed25519"
SIGNED_FIELDS = (
    "mechanism_id",
    "to",
    "type",
    "priority",
    "body",
    "references",
    "attachment",
    "in_reply_to",
)


def canonical(content: dict[str, Any]) -> bytes:
    """The bytes that are signed: RFC 8785 (JSON Canonicalization Scheme) of the content."""
    return rfc8785.dumps(content)


def _decode(value: Any, field: str, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInput.one(field, f"must be the base64 of {what}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput.one(field, f"must be the base64 of {what}") from None
    if len(raw) != size:
        raise InvalidInput.one(field, f"must be the base64 of {what} ({size} bytes)")
    return raw


def check_signature(public_key: str, content: dict[str, Any], signature: Any) -> bool:
    """Whether `signature` (base64) is the key's signature over the content's canonical form."""
    raw = _decode(signature, "signature", 64, "an Ed25519 signature")
    try:
        VerifyKey(base64.b64decode(public_key)).verify(canonical(content), raw)
    except BadSignatureError:
        return False
    return True


def verify_message(
    tx: Transaction, sender: str, content: dict[str, Any], signature: Any
) -> dict[str, Any]:
    """The stored record of a verified signature; InvalidInput when it does not verify."""
    key = tx.party_key(sender)
    if key is None:
        raise InvalidInput.one(
            "signature", "your party has no registered public key: PUT /v1/keys/me first"
        )
    if not check_signature(key["public_key"], content, signature):
        raise InvalidInput.one(
            "signature",
            "does not verify with your party's registered Ed25519 key over the RFC 8785 "
            f"canonical JSON of {', '.join(SIGNED_FIELDS)}",
        )
    return {"algorithm": ALGORITHM, "public_key": key["public_key"], "content": content}


def register_key(ctx: Context, actor: Actor, *, public_key: Any) -> dict[str, Any]:
    """Register (or replace) the caller's party's public key for signing messages."""
    party = actor.require_party()
    _decode(public_key, "public_key", 32, "an Ed25519 public key")
    with ctx.store.write() as tx:
        moment = ctx.now()
        at = format_instant(moment)
        tx.set_party_key(party, public_key, at)
        view = {
            "party_id": party,
            "algorithm": ALGORITHM,
            "public_key": public_key,
            "registered_at": at,
        }
        return ledger.logged(
            tx,
            ctx.keys,
            view,
            "party_key.registered",
            at=moment,
            by=actor,
            subject_id=party,
            audience=[party],
            data={"party_id": party, "algorithm": ALGORITHM, "public_key": public_key},
        )


def get_key(ctx: Context, actor: Actor, *, party_id: str) -> dict[str, Any]:
    """A party's public key, for any party that shares a mechanism with it, and the operator."""
    with ctx.store.read() as tx:
        shared = (
            actor.is_operator
            or actor.party_id == party_id
            or any(tx.is_member(m["id"], party_id) for m in tx.mechanisms(actor.party_id))
        )
        key = tx.party_key(party_id) if shared else None
    if key is None:
        raise NotFound(f"no public key for party {party_id}")
    return {
        "party_id": party_id,
        "algorithm": ALGORITHM,
        "public_key": key["public_key"],
        "registered_at": key["registered_at"],
    }


def verify_offline(message: dict[str, Any], public_key: str | None = None) -> list[str]:
    """Problems with a message as downloaded from the API; an empty list means it verifies.

    Checks that the signed content is what the message says, and that the signature verifies
    with `public_key` (or, if none is given, the key the service recorded with the message).
    """
    signature = message.get("signature")
    if not isinstance(signature, dict):
        return ["the message carries no signature"]
    signed = signature.get("signed")
    if not isinstance(signed, dict):
        return ["the signature holds no signed content"]
    problems = [
        f"the message's {name} differs from what was signed"
        for name in SIGNED_FIELDS
        if message.get(name) != signed.get(name)
    ]
    key = public_key or signature.get("public_key")
    if not isinstance(key, str):
        return [*problems, "no public key to verify with"]
    try:
        _decode(key, "public_key", 32, "an Ed25519 public key")
        if not check_signature(key, signed, signature.get("value")):
            problems.append("the signature does not verify with this key")
    except InvalidInput as error:
        problems.append(str(error))
    return problems
