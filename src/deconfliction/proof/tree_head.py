"""Signed tree heads: {log_id, tree_size, root_hash, timestamp, key_id} signed with an Ed25519 key.

The signature is over the RFC 8785 canonical JSON of those fields and `"kind":
"deconfliction/tree-head/v2"` (so no other signed statement of the service can pass for a head,
nor a head for one); `log_id` names the log the head is of (one key may sign several logs: a
deployment's shards each keep their own), `root_hash` is standard base64 of the 32-byte RFC 9162
root, `timestamp` RFC 3339 in UTC with a `Z`, `key_id` the standard base64 of the first 16 bytes
of SHA-256 of the raw 32-byte public key. Anyone holding the public key checks a head offline.

Heads signed before logs had ids (`"kind": "deconfliction/tree-head/v1"`) have no `log_id` and
sign the other four fields; they still verify, and name no log.

Pure: standard library, `rfc8785`, PyNaCl and the domain's time format; no web framework, no
database driver.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from deconfliction.domain.times import format_instant
from deconfliction.proof import canonical as canonical_json
from deconfliction.proof.merkle import HASH_SIZE

KEY_ID_BYTES = 16
_SIGNATURE_SIZE = 64
_UTC_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
FIELDS = ("tree_size", "root_hash", "timestamp", "key_id")
HEAD_KIND = "deconfliction/tree-head/v2"
UNNAMED_HEAD_KIND = "deconfliction/tree-head/v1"
LOG_ID = re.compile(r"^log_[0-9a-f]{32}$")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def _raw_public_key(public_key: bytes | VerifyKey) -> bytes:
    return bytes(public_key) if isinstance(public_key, VerifyKey) else public_key


def key_id(public_key: bytes | VerifyKey) -> str:
    """The key's id: base64 of the first 16 bytes of SHA-256 of the raw public key."""
    return _b64(hashlib.sha256(_raw_public_key(public_key)).digest()[:KEY_ID_BYTES])


@dataclass(frozen=True)
class SignedTreeHead:
    """A tree head and its signature, in the form it travels in (JSON-ready strings); `log_id`
    None for a head signed before logs had ids."""

    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str
    log_id: str | None = None

    def signed_fields(self) -> dict[str, Any]:
        """The signed fields: the log's id (if the head names one), then the four others."""
        fields: dict[str, Any] = {} if self.log_id is None else {"log_id": self.log_id}
        return {
            **fields,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "key_id": self.key_id,
        }

    def payload(self) -> bytes:
        """The signed bytes: RFC 8785 canonical JSON of the signed fields and the kind."""
        kind = UNNAMED_HEAD_KIND if self.log_id is None else HEAD_KIND
        return canonical_json.dumps({"kind": kind, **self.signed_fields()})

    def root(self) -> bytes:
        """The root hash as bytes; ValueError if it is not base64 of 32 bytes."""
        raw = _unb64(self.root_hash)
        if raw is None or len(raw) != HASH_SIZE:
            raise ValueError("root_hash is not base64 of a 32-byte hash")
        return raw

    def to_json(self) -> dict[str, Any]:
        """The head as a JSON object (the signed fields plus `signature`)."""
        return {**self.signed_fields(), "signature": self.signature}

    @classmethod
    def from_json(cls, data: Any) -> SignedTreeHead:
        """A head from its JSON object; ValueError naming the first field of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("a signed tree head is a JSON object")
        size = data.get("tree_size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise ValueError("tree_size must be an integer")
        for name in ("root_hash", "timestamp", "key_id", "signature"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"{name} must be a string")
        log = data.get("log_id")
        if log is not None and not isinstance(log, str):
            raise ValueError("log_id must be a string")
        return cls(
            size, data["root_hash"], data["timestamp"], data["key_id"], data["signature"], log
        )


def new_log_id() -> str:
    """A new log's id: `log_` and 32 random hex digits."""
    return f"log_{secrets.token_hex(16)}"


def sign_tree_head(
    signing_key: SigningKey, log_id: str, tree_size: int, root_hash: bytes, timestamp: datetime
) -> SignedTreeHead:
    """Sign the head of log `log_id` at `tree_size` leaves with root `root_hash` at `timestamp`."""
    if not isinstance(log_id, str) or not LOG_ID.match(log_id):
        raise ValueError("log_id must be log_ and 32 lowercase hex digits")
    if not isinstance(tree_size, int) or isinstance(tree_size, bool) or tree_size < 0:
        raise ValueError("tree_size must be a non-negative integer")
    if not isinstance(root_hash, bytes) or len(root_hash) != HASH_SIZE:
        raise ValueError("root_hash must be 32 bytes")
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    unsigned = SignedTreeHead(
        tree_size=tree_size,
        root_hash=_b64(root_hash),
        timestamp=format_instant(timestamp),
        key_id=key_id(signing_key.verify_key),
        signature="",
        log_id=log_id,
    )
    signature = signing_key.sign(unsigned.payload()).signature
    return replace(unsigned, signature=_b64(signature))


def verify_tree_head(head: SignedTreeHead, public_key: bytes | VerifyKey) -> bool:
    """Whether `head` is well formed and signed by `public_key` (and names that key)."""
    raw_key = _raw_public_key(public_key)
    signature = _unb64(head.signature)
    root = _unb64(head.root_hash)
    well_formed = (
        isinstance(head.tree_size, int)
        and not isinstance(head.tree_size, bool)
        and 0 <= head.tree_size <= 2**53 - 1  # what RFC 8785 can carry
        and root is not None
        and len(root) == HASH_SIZE
        and isinstance(head.timestamp, str)
        and _UTC_INSTANT.match(head.timestamp) is not None
        and _valid_instant(head.timestamp)
        and signature is not None
        and len(signature) == _SIGNATURE_SIZE
        and len(raw_key) == 32
        and head.key_id == key_id(raw_key)
        and (head.log_id is None or _named_log(head.log_id))
    )
    if not well_formed or signature is None:
        return False
    try:
        VerifyKey(raw_key).verify(head.payload(), signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def _named_log(log_id: object) -> bool:
    return isinstance(log_id, str) and LOG_ID.match(log_id) is not None


def _valid_instant(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
